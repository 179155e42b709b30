package textsrc_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/source/textsrc"
)

// TestOptionsThatDoNotApply gives every option to every source: an option
// for CSV given to a lines source makes the pipeline invalid, naming the
// option and the source, instead of being ignored.
func TestOptionsThatDoNotApply(t *testing.T) {
	path := writeFile(t, "in.txt", []byte("a,b\n1,2\n"))
	options := map[string]textsrc.Option{
		"NoGzip":       textsrc.NoGzip(),
		"Comma":        textsrc.Comma(';'),
		"LazyQuotes":   textsrc.LazyQuotes(),
		"MaxLineBytes": textsrc.MaxLineBytes(1 << 10),
		"MaxFields":    textsrc.MaxFields(10),
		"MaxBytes":     textsrc.MaxBytes(1 << 10),
	}
	csvOnly := map[string]bool{"Comma": true, "LazyQuotes": true, "MaxFields": true}
	lines := func(src source.Source) *pipeline.Pipeline {
		return pipeline.New(src).Sink(sink.Discard[textsrc.Line]())
	}
	records := func(src source.Source) *pipeline.Pipeline {
		return pipeline.New(src).Sink(sink.Discard[textsrc.Record]())
	}
	sources := map[string]func(textsrc.Option) (*pipeline.Pipeline, string){
		"Lines": func(o textsrc.Option) (*pipeline.Pipeline, string) {
			return lines(textsrc.Lines(strings.NewReader("a,b\n1,2\n"), "in.txt", o)), "in.txt"
		},
		"LinesFile": func(o textsrc.Option) (*pipeline.Pipeline, string) { return lines(textsrc.LinesFile(path, o)), path },
		"CSV": func(o textsrc.Option) (*pipeline.Pipeline, string) {
			return records(textsrc.CSV(strings.NewReader("a,b\n1,2\n"), "in.csv", o)), "in.csv"
		},
		"CSVFile": func(o textsrc.Option) (*pipeline.Pipeline, string) { return records(textsrc.CSVFile(path, o)), path },
	}
	for srcName, build := range sources {
		for optName, o := range options {
			t.Run(srcName+"/"+optName, func(t *testing.T) {
				p, input := build(o)
				st := p.Run(t.Context())
				if csvOnly[optName] && strings.HasPrefix(srcName, "Lines") {
					assert.Equal(t, pipeline.CodeInvalid, st.Code, st.Message)
					assert.Contains(t, st.Message, "option "+optName)
					assert.Contains(t, st.Message, "lines source ("+input+")")
					return
				}
				assert.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
			})
		}
	}
}

// TestLimitsMustBePositive: a limit of zero or less makes the source
// invalid, naming the option, its value and the input.
func TestLimitsMustBePositive(t *testing.T) {
	for name, o := range map[string]textsrc.Option{
		"MaxLineBytes(0)": textsrc.MaxLineBytes(0),
		"MaxFields(-1)":   textsrc.MaxFields(-1),
		"MaxBytes(0)":     textsrc.MaxBytes(0),
	} {
		t.Run(name, func(t *testing.T) {
			st := pipeline.New(textsrc.CSV(strings.NewReader("a\n1\n"), "in.csv", o)).
				Sink(sink.Discard[textsrc.Record]()).Run(t.Context())
			assert.Equal(t, pipeline.CodeInvalid, st.Code, st.Message)
			assert.Contains(t, st.Message, name+": the")
			assert.Contains(t, st.Message, "(in.csv)")
		})
	}
}
