package promstats

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
)

// Handler returns the /metrics handler of g, in Prometheus's text format.
//
// A metric that cannot be gathered (a collector of g that panics or sends
// an invalid metric) is left out and the rest is served. The client never
// sees why: the error, with any stack trace, goes to the logger set with
// WithLogger, and when nothing at all can be served the client gets status
// 500 and a one-line message.
func Handler(g prometheus.Gatherer, opts ...HandlerOption) http.Handler {
	c := newHandlerConfig(opts)
	return promhttp.HandlerFor(quietGatherer{g: g, log: c.log}, promhttp.HandlerOpts{
		ErrorLog:      promLog{c.log},
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// errGather is all a client is told of a failed gathering: the error
// itself may hold stack traces and source paths.
var errGather = errors.New("some metrics could not be gathered; the server's log says why")

// quietGatherer logs g's errors whole and returns errGather in their place,
// since promhttp writes the error it is given into the response.
type quietGatherer struct {
	g   prometheus.Gatherer
	log *zap.Logger
}

func (q quietGatherer) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := q.g.Gather()
	if err != nil {
		q.log.Error("gathering metrics", zap.Int("families_served", len(mfs)), zap.Error(err))
		return mfs, errGather
	}
	return mfs, nil
}

// promLog is promhttp's error log: the errors of writing a response. It
// leaves out errGather, which quietGatherer has logged whole.
type promLog struct{ log *zap.Logger }

func (l promLog) Println(v ...any) {
	for _, x := range v {
		if err, ok := x.(error); ok && errors.Is(err, errGather) {
			return
		}
	}
	l.log.Error("serving metrics", zap.String("error", strings.TrimSuffix(fmt.Sprintln(v...), "\n")))
}
