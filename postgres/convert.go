package postgres

import (
	"errors"
	"strings"

	"github.com/engram-go/engram"
)

// memBatch is a batch of rows converted to memories, ready for BatchRemember.
type memBatch struct {
	mems []engram.Memory
	refs []rowRef // per memory: where it came from
	// failed are the rows that did not convert, in row order.
	failed []*RowError
	rows   int    // rows of the raw batch
	last   string // key of the batch's last row, "" for the NULL-key pass or without a key
}

type rowRef struct {
	row int64
	key string
}

// convert turns a batch of raw rows into memories and conversion failures.
func (p *plan) convert(b *rawBatch) *memBatch {
	mb := &memBatch{mems: make([]engram.Memory, 0, b.rows), refs: make([]rowRef, 0, b.rows), rows: b.rows}
	for i := range b.rows {
		row := b.firstRow + int64(i)
		m, key, err := p.convertRow(b, i)
		if err != nil {
			err.Row = row
			mb.failed = append(mb.failed, err)
			continue
		}
		mb.mems = append(mb.mems, m)
		mb.refs = append(mb.refs, rowRef{row: row, key: key})
	}
	if k := p.idx[fKey]; k >= 0 && !b.nullKeys && b.rows > 0 {
		mb.last = string(b.value(b.rows-1, k))
	}
	return mb
}

// convertRow converts row i. A value that does not convert fails the row with
// CodeBadValue and the column's name; a NULL leaves its field unset.
func (p *plan) convertRow(b *rawBatch, i int) (m engram.Memory, key string, rerr *RowError) {
	val := func(f field) []byte {
		if c := p.idx[f]; c >= 0 {
			return b.value(i, c)
		}
		return nil
	}
	bad := func(f field, err error) *RowError {
		return &RowError{Key: key, ID: m.ID, Column: p.cols[p.idx[f]].name, Code: CodeBadValue, Err: err}
	}
	if c := p.idx[fKey]; c >= 0 {
		v := b.value(i, c)
		if v == nil {
			re := &RowError{Column: p.keyName, Code: CodeNullKey, Err: errors.New("the key is NULL")}
			if id := val(fID); id != nil {
				re.ID = string(id)
			}
			return m, "", re
		}
		key = string(v)
		m.ID = key
	}
	if v := val(fID); v != nil {
		m.ID = string(v)
	}
	if v := val(fContent); v != nil {
		m.Content = string(v)
	}
	if v := val(fEmbedding); v != nil {
		var err error
		if m.Embedding, err = decodeEmbedding(v, p.cols[p.idx[fEmbedding]].kind); err != nil {
			return m, key, bad(fEmbedding, err)
		}
	}
	if v := val(fConfidence); v != nil {
		f, err := decodeNumber(v, p.cols[p.idx[fConfidence]].kind)
		if err != nil {
			return m, key, bad(fConfidence, err)
		}
		c := float32(f) // NaN or out of [0,1] is the store's INVALID_CONFIDENCE
		m.Confidence = &c
	}
	if v := val(fCreatedAt); v != nil {
		t, err := decodeTimestamp(v, p.cols[p.idx[fCreatedAt]].kind == kDate)
		if err != nil {
			return m, key, bad(fCreatedAt, err)
		}
		m.CreatedAt = t
	}
	if v := val(fMetadata); v != nil {
		var err error
		if m.Metadata, err = decodeMetadata(v, p.cols[p.idx[fMetadata]].kind); err != nil {
			return m, key, bad(fMetadata, err)
		}
	}
	for _, c := range p.extra {
		if v := b.value(i, c); v != nil {
			if m.Metadata == nil {
				m.Metadata = make(map[string]string, len(p.extra))
			}
			if _, ok := m.Metadata[p.cols[c].name]; !ok {
				m.Metadata[p.cols[c].name] = string(v)
			}
		}
	}
	if v := val(fTags); v != nil {
		var err error
		if p.cols[p.idx[fTags]].kind == kTextArray {
			m.Tags, err = decodeTextArray(v)
		} else {
			m.Tags, err = decodeJSONStrings(jsonPart(v, p.cols[p.idx[fTags]].kind))
		}
		if err != nil {
			return m, key, bad(fTags, err)
		}
	}
	return m, key, nil
}

func decodeEmbedding(v []byte, k kind) ([]float32, error) {
	switch k {
	case kFloat4Array:
		return decodeFloatArray(v, 4)
	case kFloat8Array:
		return decodeFloatArray(v, 8)
	case kVector:
		return decodeVector(v, false)
	case kHalfvec:
		return decodeVector(v, true)
	case kBytea:
		return decodeLEFloats(v)
	case kJSONB:
		t, err := jsonbText(v)
		if err != nil {
			return nil, err
		}
		return parseNumberArray(t)
	default: // json, text
		return parseNumberArray(v)
	}
}

func decodeMetadata(v []byte, k kind) (map[string]string, error) {
	if k == kHstore {
		return decodeHstore(v)
	}
	return decodeJSONObject(jsonPart(v, k))
}

// jsonPart returns the JSON text of a json, jsonb or text value (a jsonb value with an
// unknown format version yields invalid JSON, reported by the parser).
func jsonPart(v []byte, k kind) []byte {
	if k == kJSONB {
		if t, err := jsonbText(v); err == nil {
			return t
		}
		return []byte{0}
	}
	return v
}

// storeError reports a memory the store rejected, naming the column its code points at.
func (p *plan) storeError(ref rowRef, id string, err error) *RowError {
	re := &RowError{Key: ref.key, Row: ref.row, ID: id, Code: Code(engram.CodeOf(err).String()), Err: err}
	var f field = nFields
	switch engram.CodeOf(err) {
	case engram.CodeInvalidEmbedding, engram.CodeDimensionMismatch:
		f = fEmbedding
	case engram.CodeInvalidConfidence:
		f = fConfidence
	case engram.CodeContentTooLarge:
		f = fContent
	case engram.CodeInvalidTimestamp:
		f = fCreatedAt
	case engram.CodeInvalidID, engram.CodeDuplicateID:
		f = fID
		if p.idx[fID] < 0 {
			f = fKey
		}
	case engram.CodeMetadataTooLarge:
		f = fMetadata
		if p.idx[fMetadata] < 0 {
			f = fTags
		}
	case engram.CodeInvalidText: // "content is not valid UTF-8", "metadata ...", "tags ..."
		var e *engram.Error
		if errors.As(err, &e) {
			switch {
			case strings.HasPrefix(e.Msg, "content"):
				f = fContent
			case strings.HasPrefix(e.Msg, "metadata"):
				f = fMetadata
			case strings.HasPrefix(e.Msg, "tags"):
				f = fTags
			}
		}
	}
	if f < nFields && p.idx[f] >= 0 {
		re.Column = p.cols[p.idx[f]].name
	}
	return re
}
