package wfworker

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Config says where the broker is and how topics are named; ConfigFromEnv reads the same
// variables as the engine's services.
type Config struct {
	Brokers     []string // WORKFLOWS_KAFKA_BOOTSTRAP, default 127.0.0.1:9092
	TopicPrefix string   // WORKFLOWS_TOPIC_PREFIX, default ""
	Partitions  int32    // WORKFLOWS_PARTITIONS, default 8: used if the command topic is missing
	DrainTime   time.Duration
	SigningKeys [][]byte // WORKFLOWS_SIGNING_KEY then WORKFLOWS_SIGNING_KEYS_PREVIOUS; none: off
}

// ConfigFromEnv reads Config from the environment.
func ConfigFromEnv() Config {
	cfg := Config{Brokers: []string{"127.0.0.1:9092"}, Partitions: 8, DrainTime: 30 * time.Second}
	if v := os.Getenv("WORKFLOWS_KAFKA_BOOTSTRAP"); v != "" {
		cfg.Brokers = strings.Split(v, ",")
	}
	cfg.TopicPrefix = os.Getenv("WORKFLOWS_TOPIC_PREFIX")
	cfg.SigningKeys = SigningKeysFromEnv()
	if n, err := strconv.Atoi(os.Getenv("WORKFLOWS_PARTITIONS")); err == nil && n > 0 {
		cfg.Partitions = int32(n)
	}
	return cfg
}

// Run serves every registered function until ctx is cancelled, then drains and returns.
func (w *Worker) Run(ctx context.Context, cfg Config) error {
	if len(w.handlers) == 0 {
		return errors.New("no function registered")
	}
	shutdown, err := ConfigureTracing(ctx, "workflows-go-worker")
	if err != nil {
		return err
	}
	defer func() { _ = shutdown(context.WithoutCancel(ctx)) }() // the spans still queued
	var wg sync.WaitGroup
	errs := make(chan error, len(w.handlers))
	for _, name := range w.Functions() {
		wg.Add(1)
		go func(name string) {
			defer wg.Done()
			if err := w.serve(ctx, cfg, name); err != nil {
				errs <- err
			}
		}(name)
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func (w *Worker) serve(ctx context.Context, cfg Config, function string) error {
	commands := cfg.TopicPrefix + "wf.fn." + function
	results := cfg.TopicPrefix + "wf.steps.results"
	dlq := cfg.TopicPrefix + "wf.dlq"
	group := cfg.TopicPrefix + "wf-worker-" + function
	log := slog.With("function", function, "topic", commands, "workerId", w.ID)
	client, err := kgo.NewClient(
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID(w.ID),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(commands),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(), // a batch is answered and committed before partitions move
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// franz-go compresses with snappy by default; the engine's Python services read
		// uncompressed or gzip batches only (docs/worker-protocol.md, "Compression")
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.UnknownTopicRetries(-1), // the results topic may not exist yet: wait for it
		// the default partitioner hashes keys with murmur2, like the Java client
	)
	if err != nil {
		return err
	}
	defer client.Close() // leaves the group
	if err := createTopic(ctx, client, commands, cfg.Partitions); err != nil {
		log.Warn("cannot create the command topic (the dispatcher creates it too)", "error", err)
	}
	log.Info("worker_started")
	for {
		fetches := client.PollRecords(ctx, 100)
		if fetches.IsClientClosed() {
			return nil
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			if !errors.Is(err, context.Canceled) {
				log.Warn("fetch error", "partition", partition, "error", err)
			}
		})
		// a batch already fetched is finished even after SIGTERM (drain), within DrainTime
		work, cancel := context.WithCancel(context.WithoutCancel(ctx))
		stop := context.AfterFunc(ctx, func() { time.AfterFunc(cfg.DrainTime, cancel) })
		var failed error
		fetches.EachRecord(func(r *kgo.Record) {
			if failed == nil {
				failed = w.answer(work, client, log, r, function, results, dlq, cfg.SigningKeys)
			}
		})
		stop()
		cancel()
		if failed == nil {
			failed = client.CommitUncommittedOffsets(context.WithoutCancel(ctx))
		}
		client.AllowRebalance()
		if failed != nil {
			return failed
		}
		if ctx.Err() != nil {
			log.Info("worker_drained")
			return nil
		}
	}
}

func (w *Worker) answer(ctx context.Context, client *kgo.Client, log *slog.Logger, r *kgo.Record, function, results, dlq string, keys [][]byte) error {
	var result *Result
	var encoded []byte
	var err error
	spanCtx, span := startAttempt(ctx, r.Headers) // the function's ctx carries the attempt's span
	if problem := SignatureProblem(keys, r.Value, r.Headers); problem != "" {
		err = &InvalidCommand{Reason: problem}
	} else {
		result, encoded, err = w.Process(spanCtx, r.Value)
	}
	if err != nil && span != nil {
		span.End() // not an attempt: dead-lettered or not answered
	}
	var invalid *InvalidCommand
	switch {
	case errors.As(err, &invalid):
		letter := w.DeadLetterFor(r.Topic, r.Partition, r.Offset, r.Key, r.Value, invalid.Reason)
		log.Warn("command_dead_lettered", "offset", r.Offset, "reason", invalid.Reason)
		return client.ProduceSync(ctx, signed(keys, &kgo.Record{Topic: dlq, Key: r.Key, Value: letter})).FirstErr()
	case err != nil:
		return err
	}
	out := signed(keys, &kgo.Record{Topic: results, Key: []byte(result.ExecutionID), Value: encoded})
	out.Headers = append(out.Headers, endAttempt(span, r.Headers, result, function)...)
	if err := client.ProduceSync(ctx, out).FirstErr(); err != nil {
		return err
	}
	log.Info("step_done", "executionId", result.ExecutionID, "stepId", result.StepID, "ok", result.OK)
	return nil
}

func createTopic(ctx context.Context, client *kgo.Client, topic string, partitions int32) error {
	created, err := kadm.NewClient(client).CreateTopics(ctx, partitions, -1, nil, topic)
	if err != nil {
		return err
	}
	if err := created[topic].Err; err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return err
	}
	return nil
}
