package textsrc

import (
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type planRow struct {
	ID     string  `csv:"id"`
	Amount float64 `csv:"amount"`
}

func newDecoder[T any](t *testing.T) *csvDecoder[T] {
	t.Helper()
	d := &csvDecoder[T]{plans: map[string]*plan{}}
	var err error
	d.fields, err = structFields(reflect.TypeFor[T]())
	require.NoError(t, err)
	return d
}

func TestPlan(t *testing.T) {
	t.Run("a header's plan is made once, and found again for an equal header", func(t *testing.T) {
		d := newDecoder[planRow](t)
		h := []string{"amount", "id"}
		p := d.plan(h)
		assert.Same(t, p, d.plan(h))
		assert.Same(t, p, d.plan(slices.Clone(h)), "an equal header in another slice")

		other := d.plan([]string{"id", "amount"})
		assert.NotSame(t, p, other)
		assert.Same(t, p, d.plan(h), "a header seen before is found in the cache")
		assert.Len(t, d.plans, 2)
		assert.Equal(t, []column{{index: 1, name: "id", f: &d.fields[0]}, {index: 0, name: "amount", f: &d.fields[1]}}, p.cols)
	})

	t.Run("a plan keeps its own copy of the header", func(t *testing.T) {
		d := newDecoder[planRow](t)
		h := []string{"amount", "id"}
		p := d.plan(h)
		h[0] = "changed"
		assert.Equal(t, []string{"amount", "id"}, p.header)
		assert.NotSame(t, p, d.plan(h))
	})

	t.Run("the cache holds a bounded number of plans", func(t *testing.T) {
		d := newDecoder[planRow](t)
		for i := range 3 * maxPlans {
			d.plan([]string{"id", "amount", strconv.Itoa(i)})
			assert.LessOrEqual(t, len(d.plans), maxPlans)
		}
	})

	t.Run("headerKey tells apart headers that join alike", func(t *testing.T) {
		keys := map[string]bool{}
		for _, h := range [][]string{{"a,b"}, {"a", "b"}, {"ab"}, {"a", "", "b"}, {"1:a"}, {"1", "a"}, {}, {""}} {
			k := headerKey(h)
			assert.False(t, keys[k], "%q collides", h)
			keys[k] = true
		}
	})
}
