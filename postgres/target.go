package postgres

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/engram-go/engram"
	"github.com/jackc/pgx/v5"
)

// Target is the table Export and Sync write a space to.
type Target struct {
	// Table is the table's name as SQL writes it: "memories", "app.memories", `"Notes"`
	// (unquoted parts fold to lower case).
	Table string
	// Mapping names the column of each field (the defaults of Mapping; "-" leaves a field
	// out). ID and Embedding are required; another default-named column that the table
	// lacks is left out and listed in the result's Omitted.
	Mapping Mapping
	// Create makes the table when it does not exist: id text PRIMARY KEY, content text,
	// embedding real[] (or vector(dim) with Vector), confidence real, created_at
	// timestamptz, metadata jsonb, tags text[], and HashColumn bigint.
	Create bool
	// Vector creates the embedding column as pgvector's vector(dim) (installing the
	// extension if the server has it) and, after the rows are in, an HNSW index with cosine
	// distance (pgvector indexes at most 2000 dimensions; larger vectors get no index).
	Vector bool
}

// target is a resolved Target: the table, its columns and how each is written.
type target struct {
	ident   string // quoted, qualified name
	cols    []outColumn
	hasHash bool
	vector  bool // the embedding column is pgvector's: rows go in with INSERT
	created bool
	omitted []string
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]*$`)

// parseTableName splits a table name as SQL writes it into its parts: unquoted parts fold
// to lower case, double-quoted ones are taken as they are ("" for a quote).
func parseTableName(s string) (pgx.Identifier, error) {
	var parts pgx.Identifier
	for rest := s; ; {
		var part string
		if strings.HasPrefix(rest, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(rest); i++ {
				if rest[i] == '"' {
					if i+1 < len(rest) && rest[i+1] == '"' {
						b.WriteByte('"')
						i++
						continue
					}
					break
				}
				b.WriteByte(rest[i])
			}
			if i >= len(rest) || b.Len() == 0 {
				return nil, fmt.Errorf("postgres: bad table name %q", s)
			}
			part, rest = b.String(), rest[i+1:]
		} else {
			end := strings.IndexByte(rest, '.')
			if end < 0 {
				end = len(rest)
			}
			part, rest = rest[:end], rest[end:]
			if !identRE.MatchString(part) {
				return nil, fmt.Errorf("postgres: bad table name %q (quote parts that are not plain identifiers)", s)
			}
			part = strings.ToLower(part)
		}
		parts = append(parts, part)
		if rest == "" {
			break
		}
		if rest[0] != '.' || len(parts) == 3 {
			return nil, fmt.Errorf("postgres: bad table name %q", s)
		}
		rest = rest[1:]
	}
	return parts, nil
}

// prepareTarget finds (or, with Create, makes) the table in tx and maps the space's
// fields to its columns. forSync adds HashColumn when the table lacks it.
func prepareTarget(ctx context.Context, tx pgx.Tx, sp *engram.Space, t Target, forSync bool) (*target, error) {
	id, err := parseTableName(t.Table)
	if err != nil {
		return nil, err
	}
	tg := &target{ident: id.Sanitize()}
	names := [nFields]string{fID: t.Mapping.ID, fContent: t.Mapping.Content, fEmbedding: t.Mapping.Embedding,
		fConfidence: t.Mapping.Confidence, fCreatedAt: t.Mapping.CreatedAt, fMetadata: t.Mapping.Metadata, fTags: t.Mapping.Tags}
	explicit := [nFields]bool{}
	for f := fID; f <= fTags; f++ {
		switch names[f] {
		case "":
			names[f] = f.String()
		case "-":
			if f == fID || f == fEmbedding {
				return nil, fmt.Errorf("postgres: the %s column cannot be left out", f)
			}
			names[f] = ""
		default:
			explicit[f] = true
		}
	}
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", tg.ident).Scan(&exists); err != nil {
		return nil, fmt.Errorf("postgres: look up table %s: %w", tg.ident, err)
	}
	if !exists {
		if !t.Create {
			return nil, fmt.Errorf("postgres: table %s does not exist (create it, or export with Create)", tg.ident)
		}
		if err := createTable(ctx, tx, sp, tg.ident, names, t.Vector); err != nil {
			return nil, err
		}
		tg.created = true
	}
	cols, err := tableColumns(ctx, tx, tg.ident)
	if err != nil {
		return nil, err
	}
	for f := fID; f <= fTags; f++ {
		if names[f] == "" {
			continue
		}
		typ, ok := cols[names[f]]
		if !ok {
			if explicit[f] || f == fID || f == fEmbedding {
				return nil, &ColumnError{Field: f.String(), Column: names[f], Msg: "table " + tg.ident + " has no such column"}
			}
			tg.omitted = append(tg.omitted, names[f])
			continue
		}
		k, err := outKindFor(f, typ.typname)
		if err != nil {
			return nil, &ColumnError{Field: f.String(), Column: names[f], Type: typ.name, Msg: err.Error()}
		}
		if k == oVector {
			tg.vector = true
		}
		tg.cols = append(tg.cols, outColumn{field: f, name: names[f], kind: k})
	}
	typ, ok := cols[HashColumn]
	switch {
	case ok && typ.typname != "int8":
		return nil, &ColumnError{Field: "hash", Column: HashColumn, Type: typ.name, Msg: "must be bigint"}
	case !ok && forSync:
		if _, err := tx.Exec(ctx, "ALTER TABLE "+tg.ident+" ADD COLUMN "+HashColumn+" bigint"); err != nil {
			return nil, fmt.Errorf("postgres: add %s to %s: %w", HashColumn, tg.ident, err)
		}
		ok = true
	}
	if ok {
		tg.hasHash = true
		tg.cols = append(tg.cols, outColumn{field: fHash, name: HashColumn, kind: oInt8})
	}
	return tg, nil
}

func createTable(ctx context.Context, tx pgx.Tx, sp *engram.Space, ident string, names [nFields]string, vector bool) error {
	emb := "real[]"
	if vector {
		dim := sp.Dim()
		if dim == 0 {
			return errors.New("postgres: the space has no dimension yet, which vector(N) needs")
		}
		var have bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector')").Scan(&have); err != nil {
			return err
		}
		if !have {
			if _, err := tx.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS vector"); err != nil {
				return fmt.Errorf("postgres: the vector column needs pgvector, which this server cannot install: %w", err)
			}
		}
		emb = fmt.Sprintf("vector(%d)", dim)
	}
	types := [nFields]string{fID: "text PRIMARY KEY", fContent: "text NOT NULL", fEmbedding: emb + " NOT NULL",
		fConfidence: "real NOT NULL", fCreatedAt: "timestamptz NOT NULL", fMetadata: "jsonb NOT NULL", fTags: "text[] NOT NULL"}
	var defs []string
	for f := fID; f <= fTags; f++ {
		if names[f] != "" {
			defs = append(defs, pgx.Identifier{names[f]}.Sanitize()+" "+types[f])
		}
	}
	// The hash is nullable: rows others insert have none, and Sync leaves them alone.
	defs = append(defs, HashColumn+" bigint")
	if _, err := tx.Exec(ctx, "CREATE TABLE "+ident+" ("+strings.Join(defs, ", ")+")"); err != nil {
		return fmt.Errorf("postgres: create %s: %w", ident, err)
	}
	return nil
}

// tableColumns returns the table's columns and their types.
func tableColumns(ctx context.Context, tx pgx.Tx, ident string) (map[string]typeInfo, error) {
	rows, err := tx.Query(ctx, `SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), t.typname::text
		FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
		WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`, ident)
	if err != nil {
		return nil, fmt.Errorf("postgres: columns of %s: %w", ident, err)
	}
	out := make(map[string]typeInfo)
	for rows.Next() {
		var name string
		var ti typeInfo
		if err := rows.Scan(&name, &ti.name, &ti.typname); err != nil {
			rows.Close()
			return nil, err
		}
		out[name] = ti
	}
	return out, rows.Err()
}

// outKindFor decides how field f is written to a column of type typname.
func outKindFor(f field, typname string) (outKind, error) {
	switch f {
	case fID, fContent:
		if typname == "text" || typname == "varchar" {
			return oText, nil
		}
		return 0, errors.New("must be text or varchar")
	case fEmbedding:
		switch typname {
		case "_float4":
			return oFloat4Array, nil
		case "_float8":
			return oFloat8Array, nil
		case "bytea":
			return oBytea, nil
		case "vector":
			return oVector, nil
		}
		return 0, errors.New("must be real[], double precision[], bytea or vector")
	case fConfidence:
		switch typname {
		case "float4":
			return oFloat4, nil
		case "float8":
			return oFloat8, nil
		}
		return 0, errors.New("must be real or double precision")
	case fCreatedAt:
		switch typname {
		case "timestamptz":
			return oTimestamptz, nil
		case "timestamp":
			return oTimestamp, nil
		}
		return 0, errors.New("must be timestamptz or timestamp")
	case fMetadata:
		switch typname {
		case "jsonb":
			return oJSONB, nil
		case "json":
			return oJSON, nil
		}
		return 0, errors.New("must be jsonb or json")
	case fTags:
		switch typname {
		case "_text":
			return oTextArray, nil
		case "_varchar":
			return oVarcharArray, nil
		}
		return 0, errors.New("must be text[] or varchar[]")
	}
	return 0, fmt.Errorf("unknown field %d", f)
}

// columnList is the target's columns, quoted, for INSERT and COPY.
func (tg *target) columnList() string {
	names := make([]string, len(tg.cols))
	for i, c := range tg.cols {
		names[i] = pgx.Identifier{c.name}.Sanitize()
	}
	return strings.Join(names, ", ")
}

// idColumn is the quoted id column.
func (tg *target) idColumn() string {
	for _, c := range tg.cols {
		if c.field == fID {
			return pgx.Identifier{c.name}.Sanitize()
		}
	}
	return ""
}

// unrepresentable reports why PostgreSQL cannot hold m ("" when it can): its text types
// and jsonb refuse the NUL character, which a memory may contain.
func unrepresentable(m *engram.Memory) string {
	if strings.IndexByte(m.Content, 0) >= 0 {
		return "content contains a NUL character"
	}
	for k, v := range m.Metadata {
		if strings.IndexByte(k, 0) >= 0 || strings.IndexByte(v, 0) >= 0 {
			return "metadata contains a NUL character"
		}
	}
	for _, t := range m.Tags {
		if strings.IndexByte(t, 0) >= 0 {
			return "a tag contains a NUL character"
		}
	}
	return ""
}
