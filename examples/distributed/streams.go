package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The names of the streams, the consumer, and the subjects.
const (
	jobsStream    = "JOBS"
	resultsStream = "RESULTS"
	consumerName  = "workers"
)

// jobSubject is the subject of the jobs of a run.
func jobSubject(run string) string { return "jobs." + run }

// resultSubject is the subject of a result: its run's, and its worker's,
// so that the stream's per-subject counts are the workers' counts.
func resultSubject(r Result) string { return "results." + r.Run + "." + r.Worker }

// resultFilter is the subjects of all the results of a run.
func resultFilter(run string) string { return "results." + run + ".>" }

// resultID is the Nats-Msg-Id of a result: RESULTS stores only the first
// result of a job within its duplicates window, whoever publishes it.
func resultID(r Result) string { return r.Run + "/" + strconv.Itoa(r.JobID) }

func (c config) jobsConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:      jobsStream,
		Subjects:  []string{"jobs.>"},
		Retention: jetstream.WorkQueuePolicy, // a job is gone once acknowledged
		Storage:   jetstream.FileStorage,
	}
}

func (c config) resultsConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:       resultsStream,
		Subjects:   []string{"results.>"},
		Storage:    jetstream.FileStorage,
		Duplicates: 2 * time.Minute,
	}
}

func (c config) consumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       consumerName,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.ackWait,
		MaxAckPending: c.maxAckPending,
		MaxDeliver:    -1,
	}
}

// setUp makes the streams and the consumer. update: create them or bring
// them to cfg (the coordinator); otherwise only create what is missing (a
// worker, which may come first on an existing server).
func setUp(ctx context.Context, js jetstream.JetStream, cfg config, update bool) error {
	for _, sc := range []jetstream.StreamConfig{cfg.jobsConfig(), cfg.resultsConfig()} {
		var err error
		if update {
			_, err = js.CreateOrUpdateStream(ctx, sc)
		} else if _, err = js.Stream(ctx, sc.Name); errors.Is(err, jetstream.ErrStreamNotFound) {
			if _, err = js.CreateStream(ctx, sc); errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				err = nil // another worker made it meanwhile
			}
		}
		if err != nil {
			return fmt.Errorf("stream %s: %w", sc.Name, err)
		}
	}
	var err error
	if update {
		_, err = js.CreateOrUpdateConsumer(ctx, jobsStream, cfg.consumerConfig())
	} else if _, err = js.Consumer(ctx, jobsStream, consumerName); errors.Is(err, jetstream.ErrConsumerNotFound) {
		if _, err = js.CreateConsumer(ctx, jobsStream, cfg.consumerConfig()); errors.Is(err, jetstream.ErrConsumerExists) {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("consumer %s of stream %s: %w", consumerName, jobsStream, err)
	}
	return nil
}

// publishJobs publishes the jobs 1..n of run, asynchronously, a window of
// them at a time, and returns once the server has stored them all.
func publishJobs(ctx context.Context, js jetstream.JetStream, run string, n int) error {
	return publishAll(ctx, js, jobSubject(run), n, func(id int) any { return Job{ID: id} })
}

// publishAll publishes to subject the JSON of job(id) for id 1..n, a
// window of them at a time, and returns once the server has stored them
// all.
func publishAll(ctx context.Context, js jetstream.JetStream, subject string, n int, job func(id int) any) error {
	const window = 1000
	futures := make([]jetstream.PubAckFuture, 0, window)
	for first := 1; first <= n; first += window {
		futures = futures[:0]
		for id := first; id <= n && id < first+window; id++ {
			data, err := json.Marshal(job(id))
			if err != nil {
				return err
			}
			f, err := js.PublishAsync(subject, data)
			if err != nil {
				return fmt.Errorf("publishing job %d: %w", id, err)
			}
			futures = append(futures, f)
		}
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return fmt.Errorf("publishing a job: %w", err)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

// resultCounts returns how many results of run RESULTS holds, in all and
// by worker.
func resultCounts(ctx context.Context, js jetstream.JetStream, run string) (total int, byWorker map[string]int, err error) {
	s, err := js.Stream(ctx, resultsStream)
	if err != nil {
		return 0, nil, err
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(resultFilter(run)))
	if err != nil {
		return 0, nil, err
	}
	byWorker = make(map[string]int, len(info.State.Subjects))
	prefix := len(resultFilter(run)) - 1 // "results.<run>."
	for subj, n := range info.State.Subjects {
		byWorker[subj[prefix:]] = int(n)
		total += int(n)
	}
	return total, byWorker, nil
}

// jobsLeft returns how many messages JOBS holds: jobs not yet acknowledged,
// delivered or not.
func jobsLeft(ctx context.Context, js jetstream.JetStream) (uint64, error) {
	s, err := js.Stream(ctx, jobsStream)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}

// consumerInfo returns the state of the workers' consumer.
func consumerInfo(ctx context.Context, js jetstream.JetStream) (*jetstream.ConsumerInfo, error) {
	c, err := js.Consumer(ctx, jobsStream, consumerName)
	if err != nil {
		return nil, err
	}
	return c.Info(ctx)
}

// readResults reads back the results of run, want of them, with an
// ordered consumer of their subjects; it stops early only when a pull
// finds nothing more.
func readResults(ctx context.Context, js jetstream.JetStream, run string, want int) ([]Result, error) {
	c, err := js.OrderedConsumer(ctx, resultsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{resultFilter(run)},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", resultsStream, err)
	}
	results := make([]Result, 0, want)
	for len(results) < want {
		batch, err := c.Fetch(min(want-len(results), 1000), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return results, fmt.Errorf("reading %s: %w", resultsStream, err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			var r Result
			if err := json.Unmarshal(m.Data(), &r); err != nil {
				return results, fmt.Errorf("reading %s: result %q: %w", resultsStream, m.Data(), err)
			}
			results = append(results, r)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return results, fmt.Errorf("reading %s: %w", resultsStream, err)
		}
		if got == 0 {
			break
		}
	}
	return results, nil
}
