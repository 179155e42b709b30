//go:build unix

package textsrc_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/conveyor-go/conveyor/internal/cputime"
	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source/textsrc"
)

// benchRows is how many rows each run of BenchmarkCSV reads.
const benchRows = 100_000

// BenchmarkCSV measures CSV in ns/row, on rows of five plain fields, the
// same rows with every field quoted (as some exporters write them), rows
// whose last field holds a line break, and rows of 100 short fields. It reports the CPU time the process spent
// too (cpu-ns/row, all threads): on a shared machine it varies less than
// the wall time.
func BenchmarkCSV(b *testing.B) {
	wide := strings.Repeat("12.5,", 99) + "12.5\n"
	for _, bc := range []struct{ name, header, row string }{
		{"plain", "id,customer,amount,placed,note\n", "1234567,Ada Lovelace,1234.50,2024-03-01T09:15:00Z,ok\n"},
		{"quoted", "id,customer,amount,placed,note\n", `"1234567","Ada Lovelace","1234.50","2024-03-01T09:15:00Z","ok"` + "\n"},
		{"multiline", "id,customer,amount,placed,note\n", "1234567,Ada Lovelace,1234.50,2024-03-01T09:15:00Z,\"o\nk\"\n"},
		{"wide", strings.Repeat("c,", 99) + "c\n", wide},
	} {
		data := []byte(bc.header + strings.Repeat(bc.row, benchRows))
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			cpu0 := int64(cputime.Process())
			for b.Loop() {
				st := pipeline.New(textsrc.CSV(bytes.NewReader(data), "bench.csv"), pipeline.WithoutMetrics()).
					Sink(sink.Discard[textsrc.Record]()).Run(context.Background())
				if st.Code != pipeline.CodeSuccess || st.Counts.Done != benchRows {
					b.Fatal(st)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRows), "ns/row")
			b.ReportMetric(float64(int64(cputime.Process())-cpu0)/float64(b.N*benchRows), "cpu-ns/row")
		})
	}
}
