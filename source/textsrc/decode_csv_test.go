package textsrc_test

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/source/textsrc"
	"github.com/conveyor-go/conveyor/stage"
)

// order is the row type of most tests.
type order struct {
	ID       string   `csv:"id"`
	Amount   float64  `csv:"amount"`
	Quantity int      `csv:"qty,optional"`
	Note     *string  `csv:"note,optional"`
	Discount *float64 `csv:"discount,optional"`
}

// level is decoded with its UnmarshalText.
type level int

func (l *level) UnmarshalText(b []byte) error {
	switch string(b) {
	case "low":
		*l = 1
	case "high":
		*l = 2
	default:
		return fmt.Errorf("unknown level %q", b)
	}
	return nil
}

// Audit is embedded in everyRow: its fields are promoted.
type Audit struct {
	By string `csv:"by"`
}

// everyRow has a field of each kind DecodeCSV converts to.
type everyRow struct {
	Audit
	Name     string
	Count    int
	Small    int8 `csv:"small"`
	Big      uint64
	Byte     uint8
	Ratio    float32
	OK       bool          `csv:"ok"`
	At       time.Time     `csv:"at"`
	Took     time.Duration `csv:"took"`
	Level    level         `csv:"level"`
	Maybe    *int          `csv:"maybe"`
	When     *time.Time    `csv:"when"`
	Skipped  string        `csv:"-"`
	Tags     []string      // not convertible and untagged: ignored
	internal string
}

// decodeAll runs in (named name) through CSV and DecodeCSV[T] with opts.
func decodeAll[T any](t *testing.T, in, name string, opts ...stage.Option) ([]T, pipeline.ExitStatus) {
	t.Helper()
	var got []T
	st := pipeline.New(textsrc.CSV(strings.NewReader(in), name)).
		Via(textsrc.DecodeCSV[T](opts...)).
		Sink(sink.Collect(&got)).
		Run(t.Context())
	return got, st
}

func ptr[T any](v T) *T { return &v }

func TestDecodeCSV(t *testing.T) {
	t.Run("it fills fields by tag, then by name ignoring case, converting each kind", func(t *testing.T) {
		in := "name,COUNT,small,big,byte,ratio,ok,at,took,level,maybe,when,by,extra,skipped,tags\n" +
			"ada,3,-8,18446744073709551615,255,0.5,true,2024-03-01T10:00:00+01:00,1m30s,high,42,2024-03-01T09:00:00Z,bob,x,y,z\n" +
			"bo, 4 ,0,0,0,1e3,0,2024-03-01T10:00:00.5Z,0s,low,,,,,,\n"
		got, st := decodeAll[everyRow](t, in, "all.csv")

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		require.Len(t, got, 2)
		at := time.Date(2024, 3, 1, 10, 0, 0, 0, time.FixedZone("", 3600))
		assert.True(t, at.Equal(got[0].At), "At is %v", got[0].At)
		assert.True(t, time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC).Equal(*got[0].When))
		got[0].At, got[0].When = time.Time{}, nil
		assert.Equal(t, everyRow{
			Audit: Audit{By: "bob"},
			Name:  "ada", Count: 3, Small: -8, Big: 18446744073709551615, Byte: 255, Ratio: 0.5,
			OK: true, Took: 90 * time.Second, Level: 2, Maybe: ptr(42),
		}, got[0])

		assert.Equal(t, "bo", got[1].Name)
		assert.Equal(t, 4, got[1].Count, "values other than strings are trimmed")
		assert.Equal(t, float32(1000), got[1].Ratio)
		assert.Equal(t, 500*time.Millisecond, time.Duration(got[1].At.Nanosecond()))
		assert.Equal(t, level(1), got[1].Level)
		assert.Nil(t, got[1].Maybe, "an empty value leaves a pointer nil")
		assert.Nil(t, got[1].When)
		assert.Empty(t, got[1].Skipped)
		assert.Empty(t, got[1].Tags)
	})

	t.Run("a tag matches its column exactly before ignoring case", func(t *testing.T) {
		got, st := decodeAll[order](t, "Amount,amount,id\n1,2,a\n", "f.csv")

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []order{{ID: "a", Amount: 2}}, got)
	})

	t.Run("optional columns may be absent, columns no field takes are ignored", func(t *testing.T) {
		got, st := decodeAll[order](t, "id,amount,comment\na,1.5,hello\n", "f.csv")

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []order{{ID: "a", Amount: 1.5}}, got)
	})

	t.Run("optional pointer fields take their values when present", func(t *testing.T) {
		got, st := decodeAll[order](t, "id,amount,qty,note,discount\na,1,2,hi,0.1\nb,1,3,,\n", "f.csv")

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []order{
			{ID: "a", Amount: 1, Quantity: 2, Note: ptr("hi"), Discount: ptr(0.1)},
			{ID: "b", Amount: 1, Quantity: 3},
		}, got)
	})

	t.Run("a value that does not convert fails the run, naming the input, line and column", func(t *testing.T) {
		in := "id,amount\na,1\nb,2\nc,\"12,5\"\nd,4\n"
		got, st := decodeAll[order](t, in, "orders.csv")

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Equal(t, "decode-csv", st.Stage)
		assert.Equal(t, "orders.csv:4", st.Target)
		assert.Len(t, got, 2)
		var fe *textsrc.FieldError
		require.ErrorAs(t, st.Err, &fe)
		assert.Equal(t, "orders.csv", fe.File)
		assert.Equal(t, 4, fe.Line)
		assert.Equal(t, "amount", fe.Field)
		assert.Equal(t, "12,5", fe.Value)
		assert.ErrorIs(t, st.Err, strconv.ErrSyntax)
		assert.Equal(t, `orders.csv:4: field "amount": cannot parse "12,5" as float64: invalid syntax`, fe.Error())
		var se *stage.Error
		require.ErrorAs(t, st.Err, &se)
		assert.Equal(t, "orders.csv:4", se.Label)
		assert.Equal(t, int64(1), st.Counts.Failed)
	})

	t.Run("an out of range value names its type", func(t *testing.T) {
		type row struct {
			Small int8 `csv:"small"`
		}
		_, st := decodeAll[row](t, "small\n300\n", "f.csv")

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, strconv.ErrRange)
		assert.ErrorContains(t, st.Err, `f.csv:2: field "small": cannot parse "300" as int8: value out of range`)
	})

	t.Run("an empty value is an error for a field that is not a pointer", func(t *testing.T) {
		_, st := decodeAll[order](t, "id,amount\na,\n", "f.csv")

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorContains(t, st.Err, `f.csv:2: field "amount": cannot parse "" as float64`)
	})

	t.Run("a TextUnmarshaler's error is the cause", func(t *testing.T) {
		type row struct {
			Level level `csv:"level"`
		}
		_, st := decodeAll[row](t, "level\nmedium\n", "f.csv")

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorContains(t, st.Err, `f.csv:2: field "level": cannot parse "medium" as textsrc_test.level: unknown level "medium"`)
	})

	t.Run("with Skip the run goes on, and the bad rows are counted as skipped", func(t *testing.T) {
		in := "id,amount\na,1\nb,x\nc,3\nd,\ne,5\n"
		got, st := decodeAll[order](t, in, "orders.csv", stage.OnError(stage.Skip()))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []order{{ID: "a", Amount: 1}, {ID: "c", Amount: 3}, {ID: "e", Amount: 5}}, got)
		assert.Equal(t, int64(5), st.Counts.In)
		assert.Equal(t, int64(3), st.Counts.Done)
		assert.Equal(t, int64(2), st.Counts.Skipped)
	})

	t.Run("with a dead-letter policy the bad rows reach it with their labels", func(t *testing.T) {
		in := "id,amount\na,1\nb,x\nc,3\nd\"q,4\ne,5\n"
		var dead []stage.DeadLetterItem
		keep := stage.DeadLetter(func(_ context.Context, d stage.DeadLetterItem) error {
			dead = append(dead, d)
			return nil
		})
		got, st := decodeAll[order](t, in, "orders.csv", stage.OnError(keep))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Len(t, got, 3)
		assert.Equal(t, int64(2), st.Counts.DeadLettered)
		require.Len(t, dead, 2)

		assert.Equal(t, "orders.csv:3", dead[0].Label)
		assert.Equal(t, "decode-csv", dead[0].Stage)
		assert.Equal(t, []string{"b", "x"}, dead[0].Item.(textsrc.Record).Fields)
		var fe *textsrc.FieldError
		require.ErrorAs(t, dead[0].Err, &fe)
		assert.Equal(t, "amount", fe.Field)

		assert.Equal(t, "orders.csv:5", dead[1].Label)
		assert.ErrorIs(t, dead[1].Err, csv.ErrBareQuote, "a malformed row fails with its own error")
	})

	t.Run("a malformed row fails the run with its error under fail-fast", func(t *testing.T) {
		_, st := decodeAll[order](t, "id,amount\na,1\nb\"b,2\n", "f.csv")

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Equal(t, "f.csv:3", st.Target)
		var pe *csv.ParseError
		require.ErrorAs(t, st.Err, &pe)
		var le *textsrc.LineError
		require.ErrorAs(t, st.Err, &le)
		assert.Equal(t, 3, le.Line)
	})

	t.Run("a missing required column fails every row", func(t *testing.T) {
		_, st := decodeAll[order](t, "id,total\na,1\nb,2\n", "f.csv", stage.OnError(stage.Skip()))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, int64(2), st.Counts.Skipped)

		_, st = decodeAll[order](t, "id,total\na,1\nb,2\n", "f.csv")
		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, textsrc.ErrMissingColumn)
		var fe *textsrc.FieldError
		require.ErrorAs(t, st.Err, &fe)
		assert.Equal(t, textsrc.FieldError{File: "f.csv", Line: 2, Field: "amount", Err: textsrc.ErrMissingColumn}, *fe)
	})

	t.Run("a field whose name matches two columns is an error", func(t *testing.T) {
		_, st := decodeAll[order](t, "id,AMOUNT,Amount\na,1,2\n", "f.csv")

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, textsrc.ErrDuplicateColumn)
		assert.ErrorContains(t, st.Err, `f.csv:2: field "amount"`)
	})

	t.Run("a short row fails, but leaves optional fields zero", func(t *testing.T) {
		got, st := decodeAll[order](t, "id,amount,qty\na,1\nb\n", "f.csv", stage.OnError(stage.Skip()))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []order{{ID: "a", Amount: 1}}, got)
		assert.Equal(t, int64(1), st.Counts.Skipped)

		_, st = decodeAll[order](t, "id,amount,qty\nb\n", "f.csv")
		assert.ErrorIs(t, st.Err, textsrc.ErrShortRow)
		assert.ErrorContains(t, st.Err, `f.csv:2: field "amount": the row ends before this column`)
	})

	t.Run("decode errors are permanent: a Retry policy does not retry them", func(t *testing.T) {
		retry := stage.Retry(3, 0, 0).Then(stage.Skip())
		_, st := decodeAll[order](t, "id,amount\na,x\nb,y\n", "f.csv", stage.OnError(retry))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Zero(t, st.Counts.Retried)
		assert.Equal(t, int64(2), st.Counts.Skipped)
	})

	t.Run("a caller's Name and Label replace the defaults", func(t *testing.T) {
		label := func(r textsrc.Record) string { return "row " + strconv.Itoa(r.Line) }
		_, st := decodeAll[order](t, "id,amount\na,x\n", "f.csv", stage.Name("orders"), stage.Label(label))

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Equal(t, "orders", st.Stage)
		assert.Equal(t, "row 2", st.Target)
	})

	t.Run("a T that is not a struct fails every record, saying so", func(t *testing.T) {
		_, st := decodeAll[int](t, "a\n1\n", "f.csv")

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorContains(t, st.Err, "DecodeCSV decodes into structs, not int")
	})

	t.Run("a tagged field of a type it cannot convert to fails every record", func(t *testing.T) {
		type bad struct {
			Tags []string `csv:"tags"`
		}
		_, st := decodeAll[bad](t, "tags\nx\n", "f.csv")

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorContains(t, st.Err, "Tags: unsupported type []string")
	})

	t.Run("an unknown tag option fails every record", func(t *testing.T) {
		type bad struct {
			ID string `csv:"id,omitempty"`
		}
		_, st := decodeAll[bad](t, "id\nx\n", "f.csv")

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorContains(t, st.Err, `unknown csv tag option "omitempty"`)
	})

	t.Run("a record made by hand, without a header, lacks its required columns", func(t *testing.T) {
		var got []order
		recs := []textsrc.Record{{File: "mem", Line: 1, Fields: []string{"a", "1"}}}
		st := pipeline.New(source.Slice(recs)).Via(textsrc.DecodeCSV[order]()).Sink(sink.Collect(&got)).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, textsrc.ErrMissingColumn)
		assert.Equal(t, "mem:1", st.Target)
	})

	t.Run("one stage decodes inputs with different headers in concurrent runs", func(t *testing.T) {
		dec := textsrc.DecodeCSV[order]()
		headers := []string{"id,amount", "amount,id", "ID,Amount,qty", "x,amount,id"}
		var wg sync.WaitGroup
		for i, h := range headers {
			for j := range 4 {
				wg.Go(func() {
					var b strings.Builder
					b.WriteString(h + "\n")
					for n := range 200 {
						cols := strings.Split(h, ",")
						vals := make([]string, len(cols))
						for k, c := range cols {
							switch strings.ToLower(c) {
							case "id":
								vals[k] = fmt.Sprintf("%d-%d-%d", i, j, n)
							case "amount":
								vals[k] = strconv.Itoa(n)
							default:
								vals[k] = "7"
							}
						}
						b.WriteString(strings.Join(vals, ",") + "\n")
					}
					var got []order
					st := pipeline.New(textsrc.CSV(strings.NewReader(b.String()), h)).
						Via(dec).Sink(sink.Collect(&got)).Run(context.Background())
					if !assert.Equal(t, pipeline.CodeSuccess, st.Code, st.Message) || !assert.Len(t, got, 200) {
						return
					}
					for n, o := range got {
						assert.Equal(t, fmt.Sprintf("%d-%d-%d", i, j, n), o.ID)
						assert.Equal(t, float64(n), o.Amount)
					}
				})
			}
		}
		wg.Wait()
	})
}

func TestDecodeCSVMap(t *testing.T) {
	run := func(t *testing.T, in string, opts ...stage.Option) ([]map[string]string, pipeline.ExitStatus) {
		var got []map[string]string
		st := pipeline.New(textsrc.CSV(strings.NewReader(in), "f.csv")).
			Via(textsrc.DecodeCSVMap(opts...)).
			Sink(sink.Collect(&got)).
			Run(t.Context())
		return got, st
	}

	t.Run("it maps the header's names to the row's values", func(t *testing.T) {
		got, st := run(t, "id,name\n1,ada\n2,\n")

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []map[string]string{{"id": "1", "name": "ada"}, {"id": "2", "name": ""}}, got)
	})

	t.Run("a row with more or fewer fields than the header fails", func(t *testing.T) {
		got, st := run(t, "id,name\n1\n2,bo,x\n3,cy\n", stage.OnError(stage.Skip()))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []map[string]string{{"id": "3", "name": "cy"}}, got)
		assert.Equal(t, int64(2), st.Counts.Skipped)

		_, st = run(t, "id,name\n1\n")
		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Equal(t, "f.csv:2", st.Target)
		assert.ErrorIs(t, st.Err, csv.ErrFieldCount)
		assert.ErrorContains(t, st.Err, "f.csv:2: wrong number of fields: the row has 1, the header 2")

		_, st = run(t, "id,name\n\"1\n2\"\n")
		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Equal(t, "f.csv:2-3", st.Target, "a row over two lines is named by its span")
		assert.ErrorContains(t, st.Err, "f.csv:2-3: wrong number of fields: the row has 1, the header 2")
	})

	t.Run("a header with a name twice fails every row", func(t *testing.T) {
		_, st := run(t, "id,id\n1,2\n")

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, textsrc.ErrDuplicateColumn)
		var fe *textsrc.FieldError
		require.ErrorAs(t, st.Err, &fe)
		assert.Equal(t, "id", fe.Field)
	})

	t.Run("a malformed row fails with its error", func(t *testing.T) {
		_, st := run(t, "id\n\"a\"b\n")

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, csv.ErrQuote)
		assert.Equal(t, "f.csv:2", st.Target)
	})
}

// FieldError and LineError are found with errors.As through the *stage.Error
// the run wraps them in.
func TestFieldError(t *testing.T) {
	err := error(&stage.Error{Stage: "s", Label: "f:1", Err: stage.Permanent(&textsrc.FieldError{File: "f", Line: 1, Field: "a", Err: errBoom})})
	var fe *textsrc.FieldError
	require.True(t, errors.As(err, &fe))
	assert.Equal(t, `f:1: field "a": boom`, fe.Error())
	assert.ErrorIs(t, err, errBoom)
}
