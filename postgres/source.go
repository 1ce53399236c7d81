package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Source says which rows to import and how their columns become memories.
type Source struct {
	// Query is a SELECT whose rows are imported. Set exactly one of Query and Table.
	Query string
	// Table is a table or view, resolved as PostgreSQL resolves a name in SQL (search_path,
	// case folding unless quoted): "memories", "app.memories", `"Notes"`.
	Table string
	// Mapping names the column of each field; see Mapping for the defaults.
	Mapping Mapping
	// Key is a column with a unique, non-NULL value per row, which orders the import and
	// makes it resumable: rows are read in key order, page by page, and the store records
	// the last committed key. The default is the ID column, when the source has one. Without
	// a key the rows are read in one pass and the import cannot resume.
	Key string
	// MetadataColumns are further columns stored as metadata entries named after the column,
	// each value as PostgreSQL's text form (NULLs left out). Entries from the metadata
	// column win over them.
	MetadataColumns []string
}

// Mapping names the source column each memory field comes from. An empty field takes the
// column named as in its comment when the source has one (the names Export writes); "-"
// leaves the field unmapped even then. A named column the source lacks is a *ColumnError.
type Mapping struct {
	// ID ("id"): any type, stored as its text form. A row whose ID is NULL takes its key.
	// Without an ID column the key is the ID; without either the store generates IDs.
	ID string
	// Content ("content"): any type, as its text form; bytea as its raw bytes.
	Content string
	// Embedding ("embedding"): real[] or double precision[] (one dimension, no NULLs),
	// pgvector's vector or halfvec, bytea of little-endian float32s, or a JSON array of
	// numbers in json, jsonb or text (which is also pgvector's text form). NULL or empty:
	// no embedding (a space with an embedder computes it from the content).
	Embedding string
	// Confidence ("confidence"): real, double precision, numeric or an integer type.
	Confidence string
	// CreatedAt ("created_at"): timestamptz, timestamp (taken as UTC) or date.
	CreatedAt string
	// Metadata ("metadata"): a json or jsonb object (strings as they are, other values as
	// compact JSON text, nulls left out), an hstore, or a JSON object in text.
	Metadata string
	// Tags ("tags"): text[] or varchar[] (NULL elements left out), or a JSON array of strings
	// in json or jsonb.
	Tags string
}

// field is a memory field a column can carry.
type field uint8

const (
	fKey field = iota
	fID
	fContent
	fEmbedding
	fConfidence
	fCreatedAt
	fMetadata
	fTags
	fExtra // a MetadataColumns entry
	nFields
)

var fieldNames = [nFields]string{"key", "id", "content", "embedding", "confidence", "created_at", "metadata", "tags", "metadata column"}

func (f field) String() string { return fieldNames[f] }

// kind is how a column's binary value is decoded.
type kind uint8

const (
	kText        kind = iota // text bytes (text-like types, and anything cast ::text)
	kBytea                   // raw bytes
	kFloat4Array             // real[]
	kFloat8Array             // double precision[]
	kVector                  // pgvector vector
	kHalfvec                 // pgvector halfvec
	kJSON                    // json (text)
	kJSONB                   // jsonb (version byte + text)
	kHstore
	kTextArray // text[], varchar[], bpchar[], name[]
	kFloat4
	kFloat8
	kInt2
	kInt4
	kInt8
	kTimestamp // timestamptz and timestamp
	kDate
)

// column is one column of the generated SELECT.
type column struct {
	field field
	name  string // source column
	typ   string // its PostgreSQL type, for messages
	kind  kind
	expr  string // the select-list expression
}

// plan is a resolved Source: the SQL that reads it and how to decode each column.
type plan struct {
	base     string   // the source as a SELECT
	cols     []column // output columns; the key (if any) first
	idx      [nFields]int
	extra    []int // output columns of MetadataColumns
	keyName  string
	keyExpr  string // quoted key column reference, "" without a key
	describe string // for messages: table name or "query"
	// fingerprint identifies the source and key, so that a checkpoint is never applied to
	// another import.
	fingerprint string
}

func (p *plan) hasKey() bool { return p.keyExpr != "" }

// selectList is the generated projection.
func (p *plan) selectList() string {
	exprs := make([]string, len(p.cols))
	for i, c := range p.cols {
		exprs[i] = c.expr
	}
	return strings.Join(exprs, ", ")
}

// pageSQL reads up to limit rows in key order from the key lit on (inclusive: the row
// with that key was already imported and is skipped by the reader, which so detects a
// duplicate key at a page boundary). lit is a quoted literal, "" for the first page.
// Without a key it reads every row in one pass.
func (p *plan) pageSQL(lit string, limit int) string {
	if !p.hasKey() {
		return "SELECT " + p.selectList() + " FROM (" + p.base + ") AS src"
	}
	where := p.keyExpr + " IS NOT NULL"
	if lit != "" {
		where = p.keyExpr + " >= " + lit
	}
	return "SELECT " + p.selectList() + " FROM (" + p.base + ") AS src WHERE " + where +
		" ORDER BY " + p.keyExpr + " LIMIT " + strconv.Itoa(limit)
}

// nullKeySQL reads the rows whose key is NULL, which the keyset walk never reaches.
func (p *plan) nullKeySQL() string {
	return "SELECT " + p.selectList() + " FROM (" + p.base + ") AS src WHERE " + p.keyExpr + " IS NULL"
}

// countSQL counts the rows an import from lit on (exclusive) will read.
func (p *plan) countSQL(lit string) string {
	q := "SELECT count(*) FROM (" + p.base + ") AS src"
	if lit != "" {
		q += " WHERE " + p.keyExpr + " > " + lit + " OR " + p.keyExpr + " IS NULL"
	}
	return q
}

// resolve describes the source on the server and maps its columns to fields.
func resolve(ctx context.Context, pool *pgxpool.Pool, src Source) (*plan, error) {
	if (src.Query == "") == (src.Table == "") {
		return nil, errors.New("postgres: set exactly one of Source.Query and Source.Table")
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	defer conn.Release()

	p := &plan{}
	if src.Table != "" {
		var name string
		if err := conn.QueryRow(ctx, "SELECT $1::regclass::text", src.Table).Scan(&name); err != nil {
			return nil, fmt.Errorf("postgres: table %q: %w", src.Table, err)
		}
		p.base, p.describe = "SELECT * FROM "+name, "table "+name
	} else {
		p.base, p.describe = strings.TrimRight(strings.TrimSpace(src.Query), "; \t\n"), "query"
	}
	sd, err := conn.Conn().PgConn().Prepare(ctx, "", "SELECT * FROM ("+p.base+") AS src LIMIT 0", nil)
	if err != nil {
		return nil, fmt.Errorf("postgres: describe the %s: %w", p.describe, err)
	}
	names := make([]string, len(sd.Fields))
	oids := make([]uint32, len(sd.Fields))
	for i, f := range sd.Fields {
		names[i], oids[i] = f.Name, f.DataTypeOID
	}
	types, err := typeNames(ctx, conn.Conn(), oids)
	if err != nil {
		return nil, err
	}
	lookup := func(f field, name string) (string, uint32, error) {
		i := slices.Index(names, name)
		if i < 0 {
			return "", 0, &ColumnError{Field: f.String(), Column: name, Msg: "the " + p.describe + " has no such column (it has " + strings.Join(names, ", ") + ")"}
		}
		if slices.Index(names[i+1:], name) >= 0 {
			return "", 0, &ColumnError{Field: f.String(), Column: name, Msg: "the " + p.describe + " has two columns of that name"}
		}
		return types[oids[i]].name, oids[i], nil
	}

	// The fields, by name: explicit, or the default name when the source has it.
	m := src.Mapping
	named := [nFields]string{fID: m.ID, fContent: m.Content, fEmbedding: m.Embedding, fConfidence: m.Confidence,
		fCreatedAt: m.CreatedAt, fMetadata: m.Metadata, fTags: m.Tags}
	for f := fID; f <= fTags; f++ {
		switch {
		case named[f] == "-":
			named[f] = ""
		case named[f] == "" && slices.Contains(names, f.String()):
			named[f] = f.String()
		}
	}
	key := src.Key
	if key == "" {
		key = named[fID]
	}
	p.idx = [nFields]int{-1, -1, -1, -1, -1, -1, -1, -1, -1}
	add := func(f field, name string) error {
		typ, oid, err := lookup(f, name)
		if err != nil {
			return err
		}
		k, cast, err := kindFor(f, oid, types[oid].typname)
		if err != nil {
			return &ColumnError{Field: f.String(), Column: name, Type: typ, Msg: err.Error()}
		}
		ref := "src." + pgx.Identifier{name}.Sanitize()
		p.cols = append(p.cols, column{field: f, name: name, typ: typ, kind: k, expr: ref + cast})
		if f == fExtra {
			p.extra = append(p.extra, len(p.cols)-1)
		} else {
			p.idx[f] = len(p.cols) - 1
		}
		if f == fKey {
			p.keyName, p.keyExpr = name, ref
		}
		return nil
	}
	if key != "" {
		if err := add(fKey, key); err != nil {
			return nil, err
		}
	}
	for f := fID; f <= fTags; f++ {
		if named[f] == "" || (f == fID && named[f] == key) { // the key doubles as the ID
			continue
		}
		if err := add(f, named[f]); err != nil {
			return nil, err
		}
	}
	for _, name := range src.MetadataColumns {
		if err := add(fExtra, name); err != nil {
			return nil, err
		}
	}
	sum := sha256.Sum256([]byte(src.Table + "\x00" + src.Query + "\x00" + key))
	p.fingerprint = hex.EncodeToString(sum[:8])
	return p, nil
}

// kindFor decides how a column of type oid (named typname in pg_type) carries field f, and the cast the SELECT
// applies to it. Text-valued fields are cast to text on the server, which accepts any type.
func kindFor(f field, oid uint32, typname string) (kind, string, error) {
	switch f {
	case fKey, fID, fExtra:
		return kText, "::text", nil
	case fContent:
		if oid == pgtype.ByteaOID {
			return kBytea, "", nil
		}
		return kText, "::text", nil
	case fEmbedding:
		switch {
		case oid == pgtype.Float4ArrayOID:
			return kFloat4Array, "", nil
		case oid == pgtype.Float8ArrayOID:
			return kFloat8Array, "", nil
		case oid == pgtype.ByteaOID:
			return kBytea, "", nil
		case oid == pgtype.JSONOID:
			return kJSON, "", nil
		case oid == pgtype.JSONBOID:
			return kJSONB, "", nil
		case isText(oid):
			return kText, "", nil
		case typname == "vector":
			return kVector, "", nil
		case typname == "halfvec":
			return kHalfvec, "", nil
		}
		return 0, "", errors.New("an embedding must be real[], double precision[], vector, halfvec, bytea (little-endian float32s) or a JSON array of numbers (json, jsonb, text)")
	case fConfidence:
		switch oid {
		case pgtype.Float4OID:
			return kFloat4, "", nil
		case pgtype.Float8OID:
			return kFloat8, "", nil
		case pgtype.NumericOID:
			return kFloat8, "::float8", nil
		case pgtype.Int2OID:
			return kInt2, "", nil
		case pgtype.Int4OID:
			return kInt4, "", nil
		case pgtype.Int8OID:
			return kInt8, "", nil
		}
		return 0, "", errors.New("a confidence must be real, double precision, numeric or an integer")
	case fCreatedAt:
		switch oid {
		case pgtype.TimestamptzOID, pgtype.TimestampOID:
			return kTimestamp, "", nil
		case pgtype.DateOID:
			return kDate, "", nil
		}
		return 0, "", errors.New("created_at must be timestamptz, timestamp or date")
	case fMetadata:
		switch {
		case oid == pgtype.JSONBOID:
			return kJSONB, "", nil
		case oid == pgtype.JSONOID:
			return kJSON, "", nil
		case isText(oid):
			return kText, "", nil
		case typname == "hstore":
			return kHstore, "", nil
		}
		return 0, "", errors.New("metadata must be a json or jsonb object, an hstore, or JSON text")
	case fTags:
		switch oid {
		case pgtype.TextArrayOID, pgtype.VarcharArrayOID, pgtype.BPCharArrayOID, pgtype.NameArrayOID:
			return kTextArray, "", nil
		case pgtype.JSONBOID:
			return kJSONB, "", nil
		case pgtype.JSONOID:
			return kJSON, "", nil
		}
		return 0, "", errors.New("tags must be text[], varchar[] or a JSON array of strings (json, jsonb)")
	}
	return 0, "", fmt.Errorf("unknown field %d", f)
}

func isText(oid uint32) bool {
	switch oid {
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID:
		return true
	}
	return false
}

// typeInfo names a type: as SQL writes it (format_type), and its bare pg_type name, which
// identifies extension types (vector, halfvec, hstore) whose OIDs differ between databases.
type typeInfo struct{ name, typname string }

func typeNames(ctx context.Context, conn *pgx.Conn, oids []uint32) (map[uint32]typeInfo, error) {
	rows, err := conn.Query(ctx, "SELECT oid::int8, format_type(oid, NULL), typname::text FROM pg_type WHERE oid = ANY($1::int8[])", uniq(oids))
	if err != nil {
		return nil, fmt.Errorf("postgres: look up column types: %w", err)
	}
	out := make(map[uint32]typeInfo)
	for rows.Next() {
		var oid int64
		var t typeInfo
		if err := rows.Scan(&oid, &t.name, &t.typname); err != nil {
			rows.Close()
			return nil, err
		}
		out[uint32(oid)] = t
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: look up column types: %w", err)
	}
	return out, nil
}

func uniq(oids []uint32) []int64 {
	out := make([]int64, 0, len(oids))
	for _, o := range oids {
		if !slices.Contains(out, int64(o)) {
			out = append(out, int64(o))
		}
	}
	return out
}
