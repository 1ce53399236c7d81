package engramlc

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"time"
)

// TypesKey is the reserved metadata key under which AddDocuments records which values were
// not strings (a JSON array of their keys, sorted), so SimilaritySearch can give them back
// their JSON types. It is absent when every value is a string; a document that uses the key
// itself is rejected.
const TypesKey = "langchaingo:json"

// Stringify turns a langchaingo metadata value into the string engram stores, the same way
// for stored metadata and for filters, so a filter matches what was stored:
//
//   - a string stays as it is;
//   - a bool is "true" or "false";
//   - an integer of any Go integer type is its decimal form ("42", "-7");
//   - a float is its shortest decimal form that parses back to the same value ("0.1",
//     "2024", "1e+21"), float32 values at float32 precision; NaN and ±Inf are rejected;
//   - a json.Number is its text; a time.Time is RFC 3339 with nanoseconds, in UTC;
//   - nil and every other value (slices, maps, structs) is its encoding/json encoding,
//     which sorts map keys, so equal values always give equal strings ("null",
//     `["a","b"]`, `{"k":1}`); values encoding/json cannot encode are rejected.
//
// So an int 2024 and a float64 2024 (what JSON decoding gives) both become "2024".
func Stringify(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.FormatInt(int64(x), 10), nil
	case int8:
		return strconv.FormatInt(int64(x), 10), nil
	case int16:
		return strconv.FormatInt(int64(x), 10), nil
	case int32:
		return strconv.FormatInt(int64(x), 10), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case uint:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint8:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint16:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint32:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint64:
		return strconv.FormatUint(x, 10), nil
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return "", fmt.Errorf("non-finite number %v", x)
		}
		return strconv.FormatFloat(float64(x), 'g', -1, 32), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "", fmt.Errorf("non-finite number %v", x)
		}
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case json.Number:
		return x.String(), nil
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("cannot encode %T: %w", v, err)
	}
	return string(b), nil
}

// toEngram converts a document's metadata: the string map engram stores, with TypesKey
// listing the keys whose values were not strings.
func toEngram(md map[string]any) (map[string]string, error) {
	if len(md) == 0 {
		return nil, nil
	}
	if _, ok := md[TypesKey]; ok {
		return nil, fmt.Errorf("metadata key %q is reserved", TypesKey)
	}
	out := make(map[string]string, len(md)+1)
	var typed []string
	for k, v := range md {
		s, err := Stringify(v)
		if err != nil {
			return nil, fmt.Errorf("metadata %q: %w", k, err)
		}
		out[k] = s
		if _, isString := v.(string); !isString {
			typed = append(typed, k)
		}
	}
	if len(typed) > 0 {
		slices.Sort(typed)
		b, _ := json.Marshal(typed) // a []string always encodes
		out[TypesKey] = string(b)
	}
	return out, nil
}

// fromEngram restores a memory's metadata: strings stay strings; values that were not
// strings come back JSON-decoded (numbers as float64, as from any JSON-backed store),
// except those that do not decode (a time, say), which stay strings.
func fromEngram(md map[string]string) map[string]any {
	out := make(map[string]any, len(md))
	for k, v := range md {
		if k != TypesKey {
			out[k] = v
		}
	}
	var typed []string
	if err := json.Unmarshal([]byte(md[TypesKey]), &typed); err != nil {
		return out
	}
	for _, k := range typed {
		s, ok := md[k]
		if !ok {
			continue
		}
		var v any
		if err := json.Unmarshal([]byte(s), &v); err == nil {
			out[k] = v
		}
	}
	return out
}

// ErrUnsupportedFilter is matched (errors.Is) by the error of a filter this store cannot
// apply: it supports exact matches of metadata values, all of which must hold.
var ErrUnsupportedFilter = errors.New("engramlc: unsupported filter")

// filterOf converts vectorstores.WithFilters' value: nil, a map[string]any or a
// map[string]string of exact matches. Values are stringified as metadata is (Stringify);
// maps as values (operator syntax such as {"$gt": 3}) and slices (often meant as "any of")
// are rejected, as is any other filter type.
func filterOf(f any) (map[string]string, error) {
	switch x := f.(type) {
	case nil:
		return nil, nil
	case map[string]string:
		if _, ok := x[TypesKey]; ok {
			return nil, fmt.Errorf("%w: key %q is reserved", ErrUnsupportedFilter, TypesKey)
		}
		return x, nil
	case map[string]any:
		out := make(map[string]string, len(x))
		for k, v := range x {
			if k == TypesKey {
				return nil, fmt.Errorf("%w: key %q is reserved", ErrUnsupportedFilter, TypesKey)
			}
			if v != nil {
				switch reflect.TypeOf(v).Kind() {
				case reflect.Map, reflect.Slice, reflect.Array, reflect.Struct, reflect.Pointer:
					if _, ok := v.(time.Time); !ok {
						return nil, fmt.Errorf("%w: key %q has a %T value; only exact matches of scalar values are supported", ErrUnsupportedFilter, k, v)
					}
				}
			}
			s, err := Stringify(v)
			if err != nil {
				return nil, fmt.Errorf("%w: key %q: %v", ErrUnsupportedFilter, k, err)
			}
			out[k] = s
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: filters of type %T (want map[string]any of exact matches)", ErrUnsupportedFilter, f)
}
