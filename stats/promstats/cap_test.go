package promstats_test

import (
	"fmt"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/stats"
	"github.com/conveyor-go/conveyor/stats/promstats"
)

// gather gathers prom, which must not fail, by family name.
func gather(t *testing.T, prom prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := prom.Gather()
	require.NoError(t, err)
	byName := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		byName[f.GetName()] = f
	}
	return byName
}

// exported returns the stat names of conveyor_stat, sorted.
func exported(fams map[string]*dto.MetricFamily) []string {
	var names []string
	for _, m := range fams["conveyor_stat"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "stat" {
				names = append(names, l.GetValue())
			}
		}
	}
	slices.Sort(names)
	return names
}

func dropped(t *testing.T, fams map[string]*dto.MetricFamily) float64 {
	t.Helper()
	m := sample(fams, "conveyor_stats_dropped", nil)
	require.NotNil(t, m, "conveyor_stats_dropped tells the scraper")
	return m.GetGauge().GetValue()
}

func TestStatsPastTheDefaultCapAreDroppedAndCounted(t *testing.T) {
	reg := stats.New()
	for i := range promstats.DefaultMaxStats + 500 {
		reg.Add("country_"+strconv.Itoa(i), 1)
	}
	prom := prometheus.NewRegistry()
	prom.MustRegister(promstats.NewCollector("sample", reg))
	srv := httptest.NewServer(promstats.Handler(prom))
	defer srv.Close()
	client := srv.Client()
	defer client.CloseIdleConnections()

	fams := scrape(t, client, srv.URL+"/metrics")
	assert.Equal(t, promstats.DefaultMaxStats, len(fams["conveyor_stat"].GetMetric()), "the default cap")
	assert.Equal(t, 500.0, dropped(t, fams))
}

func TestMaxStatsExportsTheFirstByNameAndKeepsThem(t *testing.T) {
	reg := stats.New()
	var want []string
	for i := range 1000 {
		name := fmt.Sprintf("n%04d", i)
		reg.Add(name, int64(i))
		if i < 100 {
			want = append(want, name)
		}
	}
	log, logs := observed()
	prom := prometheus.NewRegistry()
	prom.MustRegister(promstats.NewCollector("sample", reg, promstats.MaxStats(100), promstats.WithLogger(log)))

	fams := gather(t, prom)
	assert.Equal(t, want, exported(fams), "the first 100 by name")
	assert.Equal(t, 900.0, dropped(t, fams))

	// New names, some first by name, come too late: the exported ones stay.
	for i := range 50 {
		reg.Add(fmt.Sprintf("a%02d", i), 1)
	}
	reg.Add("n0007", 1000)
	fams = gather(t, prom)
	assert.Equal(t, want, exported(fams), "once in, a stat stays in")
	assert.Equal(t, 950.0, dropped(t, fams))
	v, _ := stat(fams, "n0007")
	assert.Equal(t, 1007.0, v, "an exported stat's value is current")

	assert.Equal(t, []string{"900"}, logged(logs, "stats past the cap are not exported; conveyor_stats_dropped counts them", "dropped"),
		"one line says how many were dropped")
}

func TestMaxStatsFillsUpAcrossScrapes(t *testing.T) {
	reg := stats.New()
	for _, name := range []string{"c", "d", "e"} {
		reg.Add(name, 1)
	}
	prom := prometheus.NewRegistry()
	prom.MustRegister(promstats.NewCollector("sample", reg, promstats.MaxStats(5)))
	fams := gather(t, prom)
	assert.Equal(t, []string{"c", "d", "e"}, exported(fams))
	assert.Equal(t, 0.0, dropped(t, fams))

	for _, name := range []string{"z", "b", "a", "y"} {
		reg.Add(name, 1)
	}
	fams = gather(t, prom)
	assert.Equal(t, []string{"a", "b", "c", "d", "e"}, exported(fams), "the room left goes to the first new names by name")
	assert.Equal(t, 2.0, dropped(t, fams))
}

func TestMaxStatsZeroExportsNone(t *testing.T) {
	for _, n := range []int{0, -1} {
		reg := stats.New()
		reg.Add("a", 1)
		reg.Add("b", 1)
		prom := prometheus.NewRegistry()
		prom.MustRegister(promstats.NewCollector("sample", reg, promstats.MaxStats(n)))
		fams := gather(t, prom)
		assert.Empty(t, exported(fams), "MaxStats(%d)", n)
		assert.Equal(t, 2.0, dropped(t, fams), "MaxStats(%d)", n)
		assert.Contains(t, fams, "conveyor_stats_elapsed_seconds")
	}
}

func TestScrapesRaceWithNewStats(t *testing.T) {
	const (
		writers = 4
		each    = 2_000
		max     = 3_000
	)
	reg := stats.New()
	prom := prometheus.NewRegistry()
	prom.MustRegister(promstats.NewCollector("sample", reg, promstats.MaxStats(max)))

	var writing, scraping sync.WaitGroup
	for w := range writers {
		writing.Go(func() {
			for i := range each {
				reg.Add(fmt.Sprintf("w%d_%d", w, i), 1)
			}
		})
	}
	done := make(chan struct{})
	for range 2 {
		scraping.Go(func() {
			for {
				fams := gather(t, prom)
				n := len(exported(fams))
				assert.LessOrEqual(t, n, max)
				assert.GreaterOrEqual(t, float64(reg.Len()), float64(n)+dropped(t, fams), "no stat counted twice")
				select {
				case <-done:
					return
				default:
				}
			}
		})
	}
	writing.Wait()
	close(done)
	scraping.Wait()

	fams := gather(t, prom)
	assert.Len(t, exported(fams), max)
	assert.Equal(t, float64(writers*each-max), dropped(t, fams))
}
