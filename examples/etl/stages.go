package main

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink/sqlsink"
	"github.com/conveyor-go/conveyor/sink/textsink"
	"github.com/conveyor-go/conveyor/source/textsrc"
	"github.com/conveyor-go/conveyor/stage"
)

// stages are the building blocks the jobs share. Each is a stage value
// built once, and runs in every job that uses it: what a stage keeps of
// the items it sees (Dedup's keys, Reduce's accumulator) is per run, and
// what it keeps across runs (ParMap's recycled chunks, DecodeCSV's column
// plans, lineage's header) is safe to share, so one value serves any
// number of pipelines, one after another or at once.
type stages struct {
	lineage    *stage.Of[textsrc.Record, textsrc.Record]
	decodeCSV  *stage.Of[textsrc.Record, Order]
	decodeJSON *stage.Of[textsrc.Line, Order]
	validate   *stage.Of[Order, Order]
	dedup      *stage.Of[Order, Order]
	enrich     *stage.Of[Order, Order]
	byCountry  *stage.Of[Order, map[string]Summary]
	rows       *stage.Of[map[string]Summary, Summary]
}

// dedupWindow is how many recent order ids dedup remembers: a client's
// retry comes soon after its first try.
const dedupWindow = 4096

// enrichWindow is how far enrich may run ahead of its oldest order.
const enrichWindow = 128

func newStages(workers int) *stages {
	return &stages{
		lineage:    lineage(),
		decodeCSV:  textsrc.DecodeCSV[Order](),
		decodeJSON: textsrc.DecodeJSON[Order](),
		validate: stage.Tap(func(_ context.Context, o Order) error {
			return stage.Permanent(o.Validate()) // validating again gives the same answer
		}, stage.Name("validate"), stage.Label(Order.Where)),
		dedup: stage.Dedup(func(o Order) int64 { return o.ID }, dedupWindow,
			stage.Name("dedup"), stage.Label(Order.Where)),
		// Ordered, so that the output is in the input's order and the same
		// from run to run. A window of 128 orders is plenty for a function
		// this cheap, and it keeps memory small: an ordered ParMap keeps up
		// to its window in recycled chunks of up to 64 items each, which
		// with the default window (584 items for 4 workers) retains about
		// 8 MiB of chunks of Orders once warm.
		enrich: stage.ParMap(workers, stage.Func(enrich),
			stage.Name("enrich"), stage.Ordered(), stage.Window(enrichWindow), stage.Label(Order.Where)),
		byCountry: stage.Reduce(map[string]Summary(nil), addOrder,
			stage.Name("by-country"), stage.Label(Order.Where)),
		rows: stage.FlatMap(summaryRows, stage.Name("rows")),
	}
}

// lineage adds a "source" column to every record, holding the row's
// "file:line", so that DecodeCSV copies it into Order.Source: the stages
// after the decoder then name the row in their errors, and the output says
// where each order comes from. A malformed record, a row of another width
// than its header, and the rows of a header that already has a "source"
// column pass on as they are.
//
// A row the decoder then rejects is dead-lettered as the decoder got it,
// so its raw text in rejects.jsonl ends with that source column.
func lineage() *stage.Of[textsrc.Record, textsrc.Record] {
	// The records of an input share one header slice: its extended copy is
	// made once. The stage may run in several pipelines at once, hence the
	// atomic pointer; a pipeline with another header replaces it.
	var last atomic.Pointer[extendedHeader]
	return stage.Map(func(_ context.Context, r textsrc.Record) (textsrc.Record, error) {
		if r.Err != nil || len(r.Fields) != len(r.Header) || len(r.Header) == 0 {
			return r, nil
		}
		h := last.Load()
		if h == nil || len(h.header) != len(r.Header) || &h.header[0] != &r.Header[0] {
			h = &extendedHeader{header: r.Header}
			if !slices.Contains(r.Header, "source") {
				h.extended = append(slices.Clip(r.Header), "source")
			}
			last.Store(h)
		}
		if h.extended == nil {
			return r, nil
		}
		fields := make([]string, len(r.Fields)+1)
		copy(fields, r.Fields)
		fields[len(r.Fields)] = r.Where()
		r.Header, r.Fields = h.extended, fields
		return r, nil
	}, stage.Name("lineage"), stage.Label(textsrc.Record.Where))
}

type extendedHeader struct {
	header   []string // as the source gives it
	extended []string // with "source" at the end; nil if it has one already
}

// The bounds validate sets, so that a total cannot overflow.
const (
	maxQuantity = 1_000_000
	maxPrice    = Cents(100_000_000) // 1,000,000.00
)

// InvalidError is an order that validate rejects: the field at fault, its
// value and what is wrong with it.
type InvalidError struct {
	Field  string
	Value  string
	Reason string
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("field %q: %s, got %q", e.Field, e.Reason, e.Value)
}

// Validate returns an *InvalidError naming the first field of o that is
// out of bounds, or nil.
func (o Order) Validate() error {
	switch {
	case o.ID <= 0:
		return &InvalidError{"id", strconv.FormatInt(o.ID, 10), "must be positive"}
	case o.Customer == "":
		return &InvalidError{"customer", "", "must not be empty"}
	case regions[o.Country] == "":
		return &InvalidError{"country", o.Country, "is not a known country code"}
	case o.Product == "":
		return &InvalidError{"product", "", "must not be empty"}
	case o.Quantity <= 0:
		return &InvalidError{"quantity", strconv.FormatInt(o.Quantity, 10), "must be positive"}
	case o.Quantity > maxQuantity:
		return &InvalidError{"quantity", strconv.FormatInt(o.Quantity, 10), "must be at most " + strconv.Itoa(maxQuantity)}
	case o.UnitPrice < 0:
		return &InvalidError{"unit_price", o.UnitPrice.String(), "must not be negative"}
	case o.UnitPrice > maxPrice:
		return &InvalidError{"unit_price", o.UnitPrice.String(), "must be at most " + maxPrice.String()}
	case o.CreatedAt.IsZero():
		return &InvalidError{"created_at", "", "must be set"}
	}
	return nil
}

// enrich computes the order's total, exact in cents, and looks its region
// up. It runs after validate, which has checked the country and bounded
// the quantity and price.
func enrich(_ context.Context, o Order) (Order, error) {
	o.Region = regions[o.Country]
	o.Total = Cents(o.Quantity) * o.UnitPrice
	return o, nil
}

// Summary is the orders of one country, and a row of summary.csv.
type Summary struct {
	Country  string
	Region   string
	Orders   int64
	Quantity int64
	Total    Cents
}

var summaryHeader = []string{"country", "region", "orders", "quantity", "total"}

func (s Summary) row() []string {
	return []string{s.Country, s.Region, strconv.FormatInt(s.Orders, 10), strconv.FormatInt(s.Quantity, 10), s.Total.String()}
}

// addOrder is by-country's fold. Reduce starts every run from the same
// init, a nil map, which it must not change: so the first call of a run
// makes the run's own map, and the calls after it add to that one in
// place. addOrder cannot fail, so no retry or skip ever sees a map it has
// half changed.
func addOrder(_ context.Context, acc map[string]Summary, o Order) (map[string]Summary, error) {
	if acc == nil {
		acc = make(map[string]Summary)
	}
	s := acc[o.Country]
	s.Country, s.Region = o.Country, o.Region
	s.Orders++
	s.Quantity += o.Quantity
	s.Total += o.Total
	acc[o.Country] = s
	return acc, nil
}

// summaryRows flattens the totals into rows, by country.
func summaryRows(_ context.Context, m map[string]Summary) ([]Summary, error) {
	rows := slices.Collect(maps.Values(m))
	slices.SortFunc(rows, func(a, b Summary) int { return cmp.Compare(a.Country, b.Country) })
	return rows, nil
}

// cleanJob reads the orders CSV, drops what does not decode or validate
// (under the pipeline's error policy: main dead-letters them), drops
// repeated orders, enriches the rest and writes them as JSON Lines.
func (s *stages) cleanJob(in, out string, opts ...pipeline.Option) *pipeline.Pipeline {
	return s.clean(in, opts...).Sink(textsink.JSONLFile[Order](out))
}

// clean is cleanJob without its sink.
func (s *stages) clean(in string, opts ...pipeline.Option) *pipeline.Pipeline {
	return pipeline.New(textsrc.CSVFile(in), opts...).
		Via(s.lineage).
		Via(s.decodeCSV).
		Via(s.validate).
		Via(s.dedup).
		Via(s.enrich)
}

// The orders table that loadJob fills. Amounts are in cents, so that SUM is
// exact.
const (
	ordersTable = "orders"
	ordersDDL   = `CREATE TABLE orders (
		id INTEGER PRIMARY KEY,
		customer TEXT NOT NULL,
		country TEXT NOT NULL,
		region TEXT NOT NULL,
		product TEXT NOT NULL,
		quantity INTEGER NOT NULL,
		unit_price_cents INTEGER NOT NULL,
		total_cents INTEGER NOT NULL,
		created_at TEXT NOT NULL
	)`
)

var ordersColumns = []string{"id", "customer", "country", "region", "product", "quantity", "unit_price_cents", "total_cents", "created_at"}

func orderValues(o Order) []any {
	return []any{o.ID, o.Customer, o.Country, o.Region, o.Product, o.Quantity,
		int64(o.UnitPrice), int64(o.Total), o.CreatedAt.UTC().Format(time.RFC3339)}
}

// loadJob inserts the cleaned orders into the orders table of db, in
// transactions of batch rows each. It reads them back from the JSON Lines
// that cleanJob wrote, rather than inserting from inside cleanJob: a
// pipeline has one sink, and this way the table only gets orders that
// clean committed (textsink puts the file in place only when clean's input
// has ended), and is filled in large transactions by a job of its own,
// whose report shows what the database costs.
func (s *stages) loadJob(in string, db *sql.DB, batch int, opts ...pipeline.Option) *pipeline.Pipeline {
	return pipeline.New(textsrc.LinesFile(in), opts...).
		Via(s.decodeJSON).
		Via(s.validate).
		Batch(batch).
		Sink(sqlsink.Insert(db, ordersTable, ordersColumns, orderValues, sqlsink.Label(Order.Where)))
}

// summarizeJob reads the cleaned orders and writes their totals by
// country as CSV. It enriches them again, with the same stage value as
// clean: the totals it sums are computed from each order's own fields, not
// taken on trust from the file.
func (s *stages) summarizeJob(in, out string, opts ...pipeline.Option) *pipeline.Pipeline {
	return pipeline.New(textsrc.LinesFile(in), opts...).
		Via(s.decodeJSON).
		Via(s.validate).
		Via(s.enrich).
		Via(s.byCountry).
		Via(s.rows).
		Sink(textsink.CSVFile(out, summaryHeader, Summary.row))
}
