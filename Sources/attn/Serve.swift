import ArgumentParser
import AttentionKit
import AttentionServe
import Foundation

/// `attn serve`.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve trained runs over HTTP (JSON API, Prometheus metrics).",
        discussion: """
            Loads each --checkpoint once and answers: POST /v1/translate {"text" | "texts", "beam", "n_best", \
            "length_penalty", "model"} (length_penalty: default the run's generation_config.json's, else 0.6); POST /v1/classify {"text" | "texts", "top", "model"}; POST /v1/predict (a PNG or JPEG body; \
            ?top=K&model=NAME); POST /v1/attention ({"text", "beam", "model"}, or an image body): every attention \
            layer's maps; POST /v1/generate {"prompt", "max_new_tokens", "temperature", "top_k", "top_p", "seed", \
            "stream"} (stream: server-sent events); GET /v1/models, GET /healthz, GET /metrics. Each result object is \
            the line the CLI's --json prints. Errors are {"error": {"code", "message"}} with a 4xx status naming the \
            field. SIGINT or SIGTERM stops accepting, finishes the requests in flight and exits 0. The first stdout \
            line is `listening on http://HOST:PORT` (with --port 0, the port the system chose).
            """
    )
    @Option(
        name: .customLong("checkpoint"),
        help: "A run directory to serve, or NAME=RUN to name it in requests (repeatable).")
    var checkpoints: [String] = []
    @Option(help: "The weights file of each run (default: each run's generation_config.json's, else best.safetensors).")
    var weights: String?
    @Option(help: "Address to listen on (0.0.0.0: every interface; there is no authentication without --api-key-file).")
    var host = "127.0.0.1"
    @Option(parsing: .unconditional, help: "Port (0: any free port).")
    var port = 8080
    @Option(
        name: .customLong("max-concurrency"), parsing: .unconditional,
        help: "Requests running inference at once (default: the cores).")
    var maxConcurrency = ProcessInfo.processInfo.activeProcessorCount
    @Option(parsing: .unconditional, help: "Requests waiting for a slot before 503 with Retry-After.")
    var queue = 64
    @Option(name: .customLong("max-body"), parsing: .unconditional, help: "Largest request body, bytes.")
    var maxBody = 10 << 20
    @Option(name: .customLong("max-text-bytes"), parsing: .unconditional, help: "Largest text or prompt, bytes.")
    var maxTextBytes = 10_000
    @Option(name: .customLong("max-beam"), parsing: .unconditional, help: "Widest beam a request may ask for.")
    var maxBeam = 16
    @Option(
        name: .customLong("max-batch"), parsing: .unconditional,
        help:
            "Batch the texts of concurrent translate/classify requests for the same model and settings, up to this many (1: no batching)."
    )
    var maxBatch = 1
    @Option(
        name: .customLong("batch-wait-ms"), parsing: .unconditional,
        help: "How long a batch waits for more requests after its first, milliseconds.")
    var batchWaitMs = 5.0
    @Option(parsing: .unconditional, help: "Seconds a request may take before 504.")
    var timeout = 60.0
    @Option(
        name: .customLong("api-key-file"),
        help: "A file holding the key that /v1 requests must send as `Authorization: Bearer KEY`.")
    var apiKeyFile: String?

    func validate() throws {
        try require(!checkpoints.isEmpty, "give at least one --checkpoint RUN")
        try require((0...65535).contains(port), "--port must be in 0…65535 (got \(port))")
        try require(maxConcurrency >= 1, "--max-concurrency must be at least 1")
        try require(queue >= 0, "--queue must be 0 or more")
        try require(maxBody >= 1024, "--max-body must be at least 1024 bytes")
        try require(maxTextBytes >= 1, "--max-text-bytes must be positive")
        try require((1...256).contains(maxBeam), "--max-beam must be in 1…256")
        try require(timeout > 0, "--timeout must be positive")
        try require(maxBatch >= 1, "--max-batch must be at least 1")
        try require(batchWaitMs >= 0 && batchWaitMs <= 1000, "--batch-wait-ms must be in 0…1000")
    }

    func run() throws {
        var o = ServeOptions()
        (o.checkpoints, o.weights, o.host, o.port) = (checkpoints, weights, host, port)
        (o.maxConcurrency, o.queue, o.maxBody, o.timeout) = (maxConcurrency, queue, maxBody, timeout)
        (o.maxTextBytes, o.maxBeam, o.maxBatch, o.batchWaitMilliseconds) = (
            maxTextBytes, maxBeam, maxBatch, batchWaitMs
        )
        if let apiKeyFile {
            let key = String(
                decoding: try UserFile.read(URL(fileURLWithPath: apiKeyFile), maxBytes: 4096), as: UTF8.self
            ).trimmingCharacters(
                in: .whitespacesAndNewlines)
            guard !key.isEmpty else { throw ValidationError("--api-key-file \(apiKeyFile) is empty") }
            o.apiKey = key
        }
        if host != "127.0.0.1" && host != "localhost" && host != "::1" && o.apiKey == nil {
            note("listening on \(host) without --api-key-file: anyone who can reach this port can use the models")
        }
        let host = self.host
        try AttentionServer.run(o) { port in say("listening on http://\(host):\(port)") }
    }
}
