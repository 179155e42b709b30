package main

import (
	"bytes"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/sink/textsink"
	"github.com/conveyor-go/conveyor/source/textsrc"
)

// TestMain fails the package if a test leaves a goroutine running: the
// jobs start ParMap workers, and database/sql its own goroutines.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// want is what the jobs should make of an input, worked out from the CSV
// alone, with encoding/csv, strconv and float arithmetic: none of the
// example's own parsing, validation or money arithmetic. Only the table of
// regions is the example's.
type want struct {
	lines     []string // the input's lines; lines[n-1] is line n
	orders    []wantOrder
	rejects   []wantReject
	repeats   int
	byCountry map[string]*wantSum
}

type wantOrder struct {
	id       int64
	line     int
	country  string
	quantity int64
	total    int64 // cents
}

type wantReject struct {
	line      int
	stage     string
	why       string // in the error
	malformed bool   // not a CSV row: the raw text is what was read of it
}

type wantSum struct{ orders, quantity, total int64 }

func expect(t *testing.T, path string) want {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	w := want{
		lines:     strings.Split(strings.TrimSuffix(string(data), "\n"), "\n"),
		byCountry: map[string]*wantSum{},
	}
	r := csv.NewReader(bytes.NewReader(data))
	header, err := r.Read()
	require.NoError(t, err)
	require.Equal(t, []string{"id", "customer", "country", "product", "quantity", "unit_price", "created_at"}, header)
	seen := map[int64]bool{}
	reject := func(line int, stage, why string) {
		w.rejects = append(w.rejects, wantReject{line: line, stage: stage, why: why})
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			w.rejects = append(w.rejects, wantReject{line: pe.StartLine, stage: "decode-csv", why: pe.Err.Error(), malformed: true})
			continue
		}
		require.NoError(t, err)
		line, _ := r.FieldPos(0)
		id, err := strconv.ParseInt(rec[0], 10, 64)
		require.NoError(t, err)
		quantity, err := strconv.ParseInt(rec[4], 10, 64)
		if err != nil {
			reject(line, "decode-csv", `field "quantity"`)
			continue
		}
		price, err := strconv.ParseFloat(rec[5], 64)
		require.NoError(t, err)
		_, err = time.Parse(time.RFC3339, rec[6])
		require.NoError(t, err)
		country := rec[2]
		switch _, known := regions[country]; {
		case !known:
			reject(line, "validate", `field "country"`)
		case quantity <= 0:
			reject(line, "validate", `field "quantity"`)
		case price < 0:
			reject(line, "validate", `field "unit_price"`)
		case seen[id]:
			w.repeats++
		default:
			seen[id] = true
			total := quantity * int64(math.Round(price*100))
			w.orders = append(w.orders, wantOrder{id: id, line: line, country: country, quantity: quantity, total: total})
			s := w.byCountry[country]
			if s == nil {
				s = &wantSum{}
				w.byCountry[country] = s
			}
			s.orders++
			s.quantity += quantity
			s.total += total
		}
	}
	return w
}

// summaryCSV is summary.csv as it should be.
func (w want) summaryCSV() string {
	var b strings.Builder
	b.WriteString("country,region,orders,quantity,total\n")
	for _, c := range slices.Sorted(func(yield func(string) bool) {
		for c := range w.byCountry {
			if !yield(c) {
				return
			}
		}
	}) {
		s := w.byCountry[c]
		fmt.Fprintf(&b, "%s,%s,%d,%d,%s\n", c, regions[c], s.orders, s.quantity, cents(s.total))
	}
	return b.String()
}

func (w want) totalCents() (n int64) {
	for _, o := range w.orders {
		n += o.total
	}
	return n
}

// cents formats a non-negative amount of cents.
func cents(c int64) string { return fmt.Sprintf("%d.%02d", c/100, c%100) }

func testConfig(t *testing.T) config {
	// 20 bad rows, 4 of each kind, and 20 repeated ones.
	rows := 20_000
	if raceDetector {
		rows = 5_000
	}
	return config{rows: rows, every: rows / 20, seed: 7, dir: t.TempDir(), workers: 3, batch: 500}
}

func TestTheJobs(t *testing.T) {
	cfg := testConfig(t)
	p := cfg.paths()
	var out bytes.Buffer
	results, err := run(t.Context(), cfg, &out)
	require.NoError(t, err, out.String())
	require.Len(t, results, 3, out.String())
	for i, name := range []string{"clean", "load", "summarize"} {
		require.Equal(t, name, results[i].name)
		require.True(t, results[i].status.OK(), "%s: %s", name, results[i].status.Message)
	}

	w := expect(t, p.input)
	require.Len(t, w.lines, cfg.rows+1)
	require.Len(t, w.rejects, cfg.rows/cfg.every, "the generator writes one bad row in every %d", cfg.every)
	require.Equal(t, cfg.rows/cfg.every, w.repeats, "and one repeated row")
	n := int64(len(w.orders))
	bad, repeats := int64(len(w.rejects)), int64(w.repeats)

	t.Run("counts", func(t *testing.T) {
		assert.Equal(t, pipeline.Counts{In: int64(cfg.rows), Done: n, Dropped: repeats, DeadLettered: bad}, results[0].status.Counts, "clean")
		assert.Equal(t, pipeline.Counts{In: n, Done: n}, results[1].status.Counts, "load")
		assert.Equal(t, pipeline.Counts{In: n, Done: n}, results[2].status.Counts, "summarize")
		text := out.String()
		assert.Contains(t, text, fmt.Sprintf("clean: %d rows in, %d out, %d dropped, %d rejected; ", cfg.rows, n, repeats, bad))
		assert.Contains(t, text, fmt.Sprintf("load: %d rows in, %d out, 0 dropped, 0 rejected; ", n, n))
		assert.Contains(t, text, fmt.Sprintf("load: the table holds %d orders, %s in all", n, cents(w.totalCents())))
		assert.Contains(t, text, fmt.Sprintf("summarize: %d rows in, %d out, 0 dropped, 0 rejected; ", n, n))
		assert.Contains(t, text, fmt.Sprintf("summarize: %d countries in %s", len(w.byCountry), p.summary))
		assert.Equal(t, 3, strings.Count(text, "Finished with code 0 in "))
		for _, stage := range []string{"lineage", "decode-csv", "validate", "dedup", "enrich", "jsonl", "decode-json", "sql-insert", "by-country", "rows"} {
			assert.Contains(t, text, " "+stage+" ", "the report tables have a row for %s", stage)
		}
	})

	t.Run("rejects.jsonl lists the bad rows, in order, by file:line", func(t *testing.T) {
		got := readRejects(t, p.rejects)
		require.Len(t, got, len(w.rejects))
		kinds := map[string]int{}
		for i, r := range got {
			wr := w.rejects[i]
			label := fmt.Sprintf("%s:%d", p.input, wr.line)
			assert.Equal(t, label, r.Item)
			assert.Equal(t, wr.stage, r.Stage, label)
			assert.Contains(t, r.Error, wr.why, label)
			assert.Contains(t, r.Error, strconv.Quote(label), "the error names the row")
			line := w.lines[wr.line-1]
			switch {
			case wr.malformed:
				assert.True(t, strings.HasPrefix(line, r.Raw), "%s: %q is what was read of %q", label, r.Raw, line)
			default: // the row as read, whatever lineage added to its fields
				assert.Equal(t, line, r.Raw, label)
			}
			kinds[wr.stage+" "+wr.why]++
		}
		assert.Len(t, kinds, badKinds, "every kind of bad row: %v", kinds)
	})

	t.Run("orders.jsonl holds the valid orders in input order", func(t *testing.T) {
		data, err := os.ReadFile(p.clean)
		require.NoError(t, err)
		type order struct {
			ID       int64       `json:"id"`
			Country  string      `json:"country"`
			Region   string      `json:"region"`
			Quantity int64       `json:"quantity"`
			Total    json.Number `json:"total"`
			Source   string      `json:"source"`
		}
		var got, want []order
		for line := range strings.Lines(string(data)) {
			var o order
			require.NoError(t, json.Unmarshal([]byte(line), &o), line)
			got = append(got, o)
		}
		for _, o := range w.orders {
			want = append(want, order{ID: o.id, Country: o.country, Region: regions[o.country], Quantity: o.quantity,
				Total: json.Number(cents(o.total)), Source: fmt.Sprintf("%s:%d", p.input, o.line)})
		}
		assert.Equal(t, want, got)
	})

	t.Run("the orders table matches", func(t *testing.T) {
		db, err := sql.Open("sqlite", p.db)
		require.NoError(t, err)
		defer db.Close()
		var rows, total, ids int64
		require.NoError(t, db.QueryRow("SELECT COUNT(*), SUM(total_cents), COUNT(DISTINCT id) FROM orders").Scan(&rows, &total, &ids))
		assert.Equal(t, n, rows)
		assert.Equal(t, n, ids)
		assert.Equal(t, w.totalCents(), total)
		var de int64
		require.NoError(t, db.QueryRow("SELECT COALESCE(SUM(total_cents), 0) FROM orders WHERE country = 'DE'").Scan(&de))
		assert.Equal(t, w.byCountry["DE"].total, de)
	})

	t.Run("summary.csv is exact", func(t *testing.T) {
		got, err := os.ReadFile(p.summary)
		require.NoError(t, err)
		assert.Equal(t, w.summaryCSV(), string(got))
	})

	t.Run("a second run reuses the input and gives the same outputs", func(t *testing.T) {
		before := map[string][]byte{}
		for _, f := range []string{p.input, p.clean, p.rejects, p.summary} {
			before[f], err = os.ReadFile(f)
			require.NoError(t, err)
		}
		cfg := cfg
		cfg.quiet = true
		var again bytes.Buffer
		results, err := run(t.Context(), cfg, &again)
		require.NoError(t, err)
		require.Len(t, results, 3)
		assert.NotContains(t, again.String(), "generated")
		assert.NotContains(t, again.String(), "bottleneck", "-quiet prints no report")
		for f, b := range before {
			got, err := os.ReadFile(f)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(b, got), "%s changed", f)
		}
		assert.Contains(t, again.String(), fmt.Sprintf("load: the table holds %d orders", n), "the table is filled anew")
	})
}

func readRejects(t *testing.T, path string) []textsink.Rejected {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []textsink.Rejected
	for line := range strings.Lines(string(data)) {
		var r textsink.Rejected
		require.NoError(t, json.Unmarshal([]byte(line), &r), line)
		out = append(out, r)
	}
	return out
}

// The same validate stage fails fast where the pipeline's policy says so:
// the policy belongs to the pipeline, not to the stage.
func TestSummarizeFailsFastOnAnInvalidOrder(t *testing.T) {
	dir := t.TempDir()
	in, out := dir+"/orders.jsonl", dir+"/summary.csv"
	jsonl := `{"id":1,"customer":"C1","country":"DE","region":"EMEA","product":"valve","quantity":2,"unit_price":1.50,"total":3.00,"created_at":"2025-01-01T00:00:00Z","source":"orders.csv:2"}
{"id":2,"customer":"C2","country":"FR","region":"EMEA","product":"valve","quantity":0,"unit_price":1.50,"total":0,"created_at":"2025-01-01T00:00:00Z","source":"orders.csv:3"}
`
	require.NoError(t, os.WriteFile(in, []byte(jsonl), 0o644))
	st := newStages(2).summarizeJob(in, out).Run(t.Context())

	require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
	assert.Equal(t, "validate", st.Stage)
	assert.Equal(t, "orders.csv:3", st.Target, "labelled by the CSV row the order came from")
	var ie *InvalidError
	require.ErrorAs(t, st.Err, &ie)
	assert.Equal(t, "quantity", ie.Field)
	assert.NoFileExists(t, out, "a failed run leaves no summary")
}

// lineage gives decoded orders their row, and leaves rows it cannot extend
// to the decoder, which names them.
func TestLineage(t *testing.T) {
	const in = "id,customer,country,product,quantity,unit_price,created_at\n" +
		"1,C1,DE,valve,2,1.50,2025-01-01T00:00:00Z\n" +
		"2,C2,FR,valve\n" + // short
		"3,C3,US,flange,1,0.05,2025-01-01T00:00:00Z\n"
	s := newStages(1)
	var got []Order
	var rejects bytes.Buffer
	st := pipeline.New(textsrc.CSV(strings.NewReader(in), "in.csv"), pipeline.OnError(textsink.DeadLetters(&rejects))).
		Via(s.lineage).Via(s.decodeCSV).Via(s.validate).
		Sink(sink.Collect(&got)).
		Run(t.Context())
	require.True(t, st.OK(), st.Message)
	require.Len(t, got, 2)
	assert.Equal(t, "in.csv:2", got[0].Source)
	assert.Equal(t, "in.csv:4", got[1].Source)
	assert.Equal(t, Cents(5), got[1].UnitPrice)
	assert.Equal(t, int64(1), st.Counts.DeadLettered)
	assert.Contains(t, rejects.String(), `"item":"in.csv:3"`)
	assert.Contains(t, rejects.String(), textsrc.ErrShortRow.Error())
	assert.Contains(t, rejects.String(), `"raw":"2,C2,FR,valve"`, "a row lineage left alone is dead-lettered as it was read")
}

func TestCents(t *testing.T) {
	for in, want := range map[string]Cents{
		"0": 0, "12": 1200, "12.5": 1250, "12.50": 1250, "12.05": 1205, "-3.07": -307, "0.99": 99, "-0.5": -50,
	} {
		var c Cents
		require.NoError(t, c.UnmarshalText([]byte(in)), in)
		assert.Equal(t, want, c, in)
		var j Cents
		require.NoError(t, json.Unmarshal([]byte(in), &j), in)
		assert.Equal(t, want, j, in)
	}
	for _, in := range []string{"", "-", "1.", ".5", "1.234", "a", "1e3", "--1", "1.5x", " 1", "1,5", "1234567890123456"} {
		var c Cents
		assert.ErrorIs(t, c.UnmarshalText([]byte(in)), errAmount, "%q", in)
	}
	for c, want := range map[Cents]string{0: "0.00", 5: "0.05", 1250: "12.50", -307: "-3.07", -50: "-0.50"} {
		assert.Equal(t, want, c.String())
		b, err := json.Marshal(struct{ C Cents }{c})
		require.NoError(t, err)
		assert.Equal(t, `{"C":`+want+`}`, string(b))
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	gen := func(name string, seed uint64) []byte {
		path := dir + "/" + name
		require.NoError(t, generate(path, 3000, 100, seed))
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		return b
	}
	a, b, c := gen("a.csv", 1), gen("b.csv", 1), gen("c.csv", 2)
	assert.Equal(t, a, b)
	assert.NotEqual(t, a, c)
	assert.Equal(t, 3001, bytes.Count(a, []byte("\n")))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 3, "no temporary file is left")
}
