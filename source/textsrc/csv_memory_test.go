//go:build linux && !race

package textsrc_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source/textsrc"
)

// The CSV memory test runs its hostile inputs as memory jobs, in child
// processes (see memory_test.go).

func init() {
	type row struct{ A, B string }
	csv := func(src io.Reader, name string, opts ...textsrc.Option) pipeline.ExitStatus {
		return pipeline.New(textsrc.CSV(src, name, opts...)).
			Via(textsrc.DecodeCSV[row]()).
			Sink(sink.Discard[row]()).
			Run(context.Background())
	}
	for name, run := range map[string]func(shift int) pipeline.ExitStatus{
		"csv-baseline": func(int) pipeline.ExitStatus { return csv(strings.NewReader("a,b\nx,x\n"), "tiny.csv") },
		// A row of 100M fields "x", 200 MB, after the header.
		"wide": func(shift int) pipeline.ExitStatus { return csv(fieldsRow(100_000_000>>shift), "wide.csv") },
		// A row of 10M fields "x", 20 MB, within a raised MaxLineBytes.
		"fields": func(shift int) pipeline.ExitStatus {
			return csv(fieldsRow(10_000_000>>shift), "fields.csv", textsrc.MaxLineBytes(32<<20))
		},
		// A row of two fields, 200 MB.
		"long": func(shift int) pipeline.ExitStatus {
			return csv(generated(`1,`, "x", 200_000_000>>shift, "\n"), "long.csv")
		},
		// A quote left open, then 200 MB of lines.
		"quote": func(shift int) pipeline.ExitStatus {
			return csv(generated(`1,"`, "xxxxxxx\n", 200_000_000>>shift, ""), "quote.csv")
		},
	} {
		memoryInputs[name] = run
	}
}

// TestCSVMemory checks that no CSV row makes the source hold more than the
// baseline's peak RSS plus 64 MiB, and that each hostile row fails the run
// (code 1, the default policy) with an error naming file:line: a row of
// 100M fields and 200 MB, over MaxLineBytes; a row of 10M one-byte fields
// (20 MB) under a MaxLineBytes raised to 32 MiB, over MaxFields; a row of
// two fields and 200 MB; and a quote left open before 200 MB of lines,
// which ends with the line where it goes over MaxLineBytes. The inputs are
// made as they are read, and run one at a time.
func TestCSVMemory(t *testing.T) {
	shift, err := memoryShift()
	require.NoError(t, err)
	base := runMemoryJob(t, "csv-baseline", "")
	require.Equal(t, pipeline.CodeSuccess, base.Code, base.Err)
	t.Logf("baseline: peak RSS %.1f MiB", float64(base.peak)/(1<<20))

	for _, c := range []struct{ input, want, target string }{
		{"wide", "wide.csv:2: record is longer than 16 MiB (MaxLineBytes)", "wide.csv:2"},
		{"fields", "fields.csv:2: record has more than 100,000 fields (MaxFields)", "fields.csv:2"},
		{"long", "long.csv:2: record is longer than 16 MiB (MaxLineBytes)", "long.csv:2"},
		// The row starts with `1,"` and goes on with lines of 8 bytes:
		// its 16,777,216th byte is on line 2,097,153.
		{"quote", "quote.csv:2-2097153: record is longer than 16 MiB (MaxLineBytes)", "quote.csv:2-2097153"},
	} {
		t.Run(c.input, func(t *testing.T) {
			r := runMemoryJob(t, c.input, "")
			t.Logf("%s: peak RSS %.1f MiB (baseline + %.1f MiB), code %d in %.1fs, %d items: %s",
				c.input, float64(r.peak)/(1<<20), float64(r.peak-base.peak)/(1<<20), r.Code, r.Seconds, r.In, r.Err)
			assert.LessOrEqual(t, r.peak, base.peak+memorySlack, "peak RSS over the baseline + 64 MiB")
			if shift != 0 {
				return
			}
			assert.Equal(t, pipeline.CodeFailure, r.Code, r.Err)
			assert.Contains(t, r.Err, c.want)
			assert.Equal(t, "decode-csv", r.Stage)
			assert.Equal(t, c.target, r.Target)
		})
	}
}

// fieldsRow returns a reader of the header "a,b" and a row of n fields
// "x".
func fieldsRow(n int64) io.Reader { return generated("", "x,", 2*(n-1), "x\n") }

// generated returns a reader of the header "a,b", then prefix, n bytes of
// s over and over, and suffix, made as it is read: an input of any size
// that takes no memory. It is not one of the readers the sources know, so
// they read it as an arbitrary io.Reader.
func generated(prefix, s string, n int64, suffix string) io.Reader {
	return io.MultiReader(strings.NewReader("a,b\n"+prefix), io.LimitReader(&cycle{s: s}, n), strings.NewReader(suffix))
}

// cycle reads as s, over and over.
type cycle struct {
	s   string
	off int
}

func (c *cycle) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = c.s[c.off]
		c.off = (c.off + 1) % len(c.s)
	}
	return len(p), nil
}
