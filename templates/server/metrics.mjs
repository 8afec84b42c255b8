/**
 * The server's counters and histograms, written in the Prometheus text format for GET /metrics.
 */

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Metrics {
  constructor() {
    this.requests = new Map();
    this.errors = new Map();
    this.hist = new Map();
    this.inflight = 0;
    this.runs = 0;
    this.runRequests = 0;
    this.runRows = 0;
    this.workerRestarts = 0;
    this.pool = null;
  }
  sessionRun(requests, rows) {
    this.runs += 1;
    this.runRequests += requests;
    this.runRows += rows;
  }
  observe(protocol, status, seconds) {
    const k = `protocol="${protocol}",code="${status}"`;
    this.requests.set(k, (this.requests.get(k) ?? 0) + 1);
    if (status >= 400) this.errors.set(protocol, (this.errors.get(protocol) ?? 0) + 1);
    let h = this.hist.get(protocol);
    if (!h) { h = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 }; this.hist.set(protocol, h); }
    BUCKETS.forEach((b, i) => { if (seconds <= b) h.counts[i] += 1; });
    h.sum += seconds;
    h.count += 1;
  }
  text() {
    const out = [];
    out.push('# HELP pserve_requests_total HTTP requests answered, by protocol and status code.');
    out.push('# TYPE pserve_requests_total counter');
    for (const [k, v] of this.requests) out.push(`pserve_requests_total{${k}} ${v}`);
    out.push('# HELP pserve_request_errors_total HTTP requests answered with a 4xx or 5xx status, by protocol.');
    out.push('# TYPE pserve_request_errors_total counter');
    for (const [k, v] of this.errors) out.push(`pserve_request_errors_total{protocol="${k}"} ${v}`);
    out.push('# HELP pserve_request_duration_seconds Time from request start to response end.');
    out.push('# TYPE pserve_request_duration_seconds histogram');
    for (const [p, h] of this.hist) {
      BUCKETS.forEach((b, i) => out.push(`pserve_request_duration_seconds_bucket{protocol="${p}",le="${b}"} ${h.counts[i]}`));
      out.push(`pserve_request_duration_seconds_bucket{protocol="${p}",le="+Inf"} ${h.count}`);
      out.push(`pserve_request_duration_seconds_sum{protocol="${p}"} ${h.sum}`);
      out.push(`pserve_request_duration_seconds_count{protocol="${p}"} ${h.count}`);
    }
    out.push('# HELP pserve_session_runs_total Model runs; several requests share one run when micro-batched.');
    out.push('# TYPE pserve_session_runs_total counter');
    out.push(`pserve_session_runs_total ${this.runs}`);
    out.push('# HELP pserve_session_run_requests_total Requests answered by model runs.');
    out.push('# TYPE pserve_session_run_requests_total counter');
    out.push(`pserve_session_run_requests_total ${this.runRequests}`);
    out.push('# HELP pserve_session_run_rows_total Batch rows (samples) fed to model runs.');
    out.push('# TYPE pserve_session_run_rows_total counter');
    out.push(`pserve_session_run_rows_total ${this.runRows}`);
    out.push('# HELP pserve_inference_workers Inference worker threads with an open session.');
    out.push('# TYPE pserve_inference_workers gauge');
    out.push(`pserve_inference_workers ${this.pool?.ready ?? 0}`);
    out.push('# HELP pserve_inference_worker_restarts_total Inference workers that stopped unexpectedly and were replaced.');
    out.push('# TYPE pserve_inference_worker_restarts_total counter');
    out.push(`pserve_inference_worker_restarts_total ${this.workerRestarts}`);
    const mem = process.memoryUsage();
    out.push('# HELP process_resident_memory_bytes Resident memory size in bytes.');
    out.push('# TYPE process_resident_memory_bytes gauge');
    out.push(`process_resident_memory_bytes ${mem.rss}`);
    out.push('# HELP nodejs_heap_size_used_bytes V8 heap in use, in bytes.');
    out.push('# TYPE nodejs_heap_size_used_bytes gauge');
    out.push(`nodejs_heap_size_used_bytes ${mem.heapUsed}`);
    out.push('# HELP pserve_inflight_requests Requests being served now.');
    out.push('# TYPE pserve_inflight_requests gauge');
    out.push(`pserve_inflight_requests ${this.inflight}`);
    return `${out.join('\n')}\n`;
  }
}
