import AttentionKit
import Foundation
import Hummingbird
import Prometheus

/// `attn serve`'s settings.
public struct ServeOptions: Sendable {
    /// `RUN` or `NAME=RUN` per model.
    public var checkpoints: [String] = []
    /// The weights file loaded from each run (nil: the run's generation_config.json's, else best.safetensors).
    public var weights: String?
    /// Where to listen (port 0: any free port; the "listening" line says which).
    public var host = "127.0.0.1", port = 8080
    /// Requests running inference at once, and requests waiting beyond them before 503.
    public var maxConcurrency = ProcessInfo.processInfo.activeProcessorCount, queue = 64
    /// Largest request body in bytes.
    public var maxBody = 10 << 20
    /// Seconds a request may take before 504.
    public var timeout = 60.0
    /// Largest text in bytes, most texts per request, widest beam.
    public var maxTextBytes = 10_000, maxTexts = 256, maxBeam = 16
    /// Dynamic batching of translate and classify requests: at most `maxBatch` texts per batch (1: none), collected
    /// for up to `batchWaitMilliseconds` after the first.
    public var maxBatch = 1, batchWaitMilliseconds = 5.0
    /// When set, `/v1/*` requires `Authorization: Bearer KEY`.
    public var apiKey: String?
    /// Options with every default.
    public init() {}
}

/// An HTTP server for trained runs (Hummingbird 2 on SwiftNIO): JSON endpoints for each task, model listing, health
/// and Prometheus metrics. Inference runs on threads of its own, `maxConcurrency` at a time, with a bounded queue.
public enum AttentionServer {
    /// Loads the checkpoints, serves until SIGINT or SIGTERM (then stops accepting, finishes the requests in flight,
    /// waits up to a minute for work whose request already timed out, and returns). `onListening` gets the bound port.
    public static func run(_ options: ServeOptions, onListening: @escaping @Sendable (Int) -> Void) throws {
        let models = try ModelSet(specs: options.checkpoints, weights: options.weights)
        let state = ServerState(options: options, models: models)
        let done = DispatchSemaphore(value: 0)
        let failure = ErrorBox()
        Task {
            do { try await state.serve(onListening: onListening) } catch { failure.error = error }
            done.signal()
        }
        done.wait()
        // work that outlived its request's timeout is still on its thread: exiting under it crashed (SIGSEGV at
        // shutdown); wait for it, up to a minute
        _ = backgroundWork.wait(timeout: .now() + 60)
        if let e = failure.error { throw e }
    }
}

final class ErrorBox: @unchecked Sendable { var error: Error? }

/// The running server: models, admission gate, metrics, routes.
final class ServerState: Sendable {
    let options: ServeOptions
    let models: ModelSet
    let gate: Gate
    let limits: RequestLimits
    let registry = PrometheusCollectorRegistry()
    let inFlight: Gauge, queued: Gauge
    let batchers = Batchers()
    let batches: Counter, batchedTexts: Counter

    init(options: ServeOptions, models: ModelSet) {
        (self.options, self.models) = (options, models)
        gate = Gate(limit: options.maxConcurrency, queueLimit: options.queue)
        limits = RequestLimits(maxTextBytes: options.maxTextBytes, maxTexts: options.maxTexts, maxBeam: options.maxBeam)
        inFlight = registry.makeGauge(
            descriptor: .init(
                namespace: "attn", metricName: "requests_in_flight", unitName: "", helpText: "Requests being handled"))
        batches = registry.makeCounter(
            descriptor: .init(
                namespace: "attn", metricName: "batches", unitName: "total", helpText: "Inference batches (--max-batch)"
            ))
        batchedTexts = registry.makeCounter(
            descriptor: .init(
                namespace: "attn", metricName: "batched_texts", unitName: "total", helpText: "Texts in those batches"))
        queued = registry.makeGauge(
            descriptor: .init(
                namespace: "attn", metricName: "requests_queued", unitName: "",
                helpText: "Requests waiting for an inference slot"))
    }

    func serve(onListening: @escaping @Sendable (Int) -> Void) async throws {
        setenv("LOG_LEVEL", "warning", 0)  // Hummingbird's logger (stdout) says only what goes wrong
        let router = Router()
        let page = AttentionPage.liveHTML
        router.get("/") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: page)))
        }
        router.get("healthz") { _, _ in self.json(.ok, #"{"status": "ok"}"#) }
        router.get("metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(string: self.registry.emitToString())))
        }
        router.get("v1/models") { request, _ in
            await self.handle("models", request) { _ in
                let list = self.models.models.map(\.description)
                let data = try JSONSerialization.data(withJSONObject: ["models": list], options: [.sortedKeys])
                return self.json(.ok, String(decoding: data, as: UTF8.self))
            }
        }
        router.post("v1/translate") { request, _ in await self.handle("translate", request, self.translate) }
        router.post("v1/classify") { request, _ in await self.handle("classify", request, self.classify) }
        router.post("v1/predict") { request, _ in await self.handle("predict", request, self.predict) }
        router.post("v1/attention") { request, _ in await self.handle("attention", request, self.attention) }
        router.post("v1/generate") { request, _ in await self.handle("generate", request, self.generate) }
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: "attn"),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? -1) })
        try await app.runService()
    }

    // MARK: plumbing

    func json(_ status: HTTPResponse.Status, _ text: String, headers extra: HTTPFields = [:]) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        headers.append(contentsOf: extra)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text + "\n")))
    }

    /// Authorisation, metrics and errors around an endpoint: a thrown `APIError` becomes its status and JSON body,
    /// anything else a 500 that names it (the server stays up).
    func handle(
        _ endpoint: String, _ request: Request, _ body: @Sendable (Request) async throws -> Response
    ) async -> Response {
        let start = ContinuousClock.now
        inFlight.increment()
        let response: Response
        do {
            try authorize(request)
            response = try await body(request)
        } catch let e as APIError {
            response = json(e.status, e.json, headers: e.retryAfter.map { [.retryAfter: String($0)] } ?? [:])
        } catch {
            let e = APIError(.internalServerError, "internal", "\(error)")
            response = json(e.status, e.json)
        }
        inFlight.decrement()
        let labels = [("endpoint", endpoint), ("status", String(response.status.code))]
        registry.makeCounter(
            descriptor: .init(
                namespace: "attn", metricName: "requests", unitName: "total",
                helpText: "Requests by endpoint and status"), labels: labels
        )
        .increment()
        if response.status.code >= 400 {
            registry.makeCounter(
                descriptor: .init(
                    namespace: "attn", metricName: "request_errors", unitName: "total",
                    helpText: "Requests answered 4xx or 5xx"), labels: [("endpoint", endpoint)]
            ).increment()
        }
        registry.makeDurationHistogram(
            descriptor: .init(
                namespace: "attn", metricName: "request_duration", unitName: "seconds", helpText: "Request latency"),
            labels: [("endpoint", endpoint)],
            buckets: Self.latencyBuckets
        ).record(ContinuousClock.now - start)
        return response
    }

    /// The latency histogram's buckets: 5 ms to 10 s.
    static let latencyBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10)
    ]

    func authorize(_ request: Request) throws {
        guard let key = options.apiKey else { return }
        let given = request.headers[.authorization] ?? ""
        let expected = "Bearer " + key
        // constant time in the key's length: every byte is compared whatever the first difference
        let a = Array(given.utf8), b = Array(expected.utf8)
        var diff = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<b.count { diff |= (i < a.count ? a[i] : 0) ^ b[i] }
        guard diff == 0 else {
            throw APIError(.unauthorized, "unauthorized", "Authorization: expected `Bearer KEY` (--api-key-file)")
        }
    }

    /// The body, refused past --max-body.
    func body(_ request: Request) async throws -> Data {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > options.maxBody {
            throw APIError(
                .contentTooLarge, "body_too_large", "body: \(length) bytes, at most \(options.maxBody) (--max-body)")
        }
        var r = request
        do {
            let buffer = try await r.collectBody(upTo: options.maxBody)
            return Data(buffer.readableBytesView)
        } catch {
            throw APIError(.contentTooLarge, "body_too_large", "body: more than \(options.maxBody) bytes (--max-body)")
        }
    }

    /// Runs inference under the gate: a slot, or a place in line, or 503.
    func infer<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        queued.increment()
        let admitted = await gate.acquire()
        queued.decrement()
        guard admitted else {
            throw APIError(
                .serviceUnavailable, "overloaded",
                "server busy: \(options.maxConcurrency) requests running and \(options.queue) waiting (--queue)",
                retryAfter: 1)
        }
        let gate = self.gate
        return try await runBlocking(timeout: options.timeout, work: work, done: { Task { await gate.release() } })
    }

    /// Runs `texts` through `run` directly, or (with `--max-batch` above 1) in a batch with other requests of the
    /// same `key`.
    func batched(
        _ key: String, _ texts: [String], _ run: @escaping @Sendable ([String]) async throws -> [String]
    ) async throws -> [String] {
        guard options.maxBatch > 1 else { return try await run(texts) }
        let (batches, batchedTexts) = (self.batches, self.batchedTexts)
        let batcher = batchers.batcher(
            for: key, maxTexts: options.maxBatch, wait: .microseconds(Int(options.batchWaitMilliseconds * 1000)),
            run: { texts in
                batches.increment()
                batchedTexts.increment(by: Int64(texts.count))
                return try await run(texts)
            })
        return try await batcher.submit(key, texts)
    }

    // MARK: endpoints

    func translate(_ request: Request) async throws -> Response {
        let b = try JSONBody(try await body(request))
        let m = try models.model(named: try b.string("model"), task: "translation", endpoint: "/v1/translate")
        let (texts, single) = try b.texts(limits)
        let beam = try b.integer("beam", default: 5, in: 1...limits.maxBeam)
        let nBest = try b.integer("n_best", default: 1, in: 1...beam)
        let alpha = Float(try b.number("length_penalty", default: Double(m.lengthPenalty), in: 0...5))
        let translator = Unchecked(m.run as! Translator)
        let run: @Sendable ([String]) async throws -> [String] = { texts in
            try await self.infer {
                zip(texts, translator.value.translate(texts, beam: beam, nBest: nBest, lengthPenalty: alpha)).map {
                    InferenceJSON.translation(source: $0, hypotheses: $1).text
                }
            }
        }
        let lines = try await batched("translate|\(m.name)|\(beam)|\(nBest)|\(alpha)", texts, run)
        return json(.ok, results(lines, single: single, model: m.name))
    }

    func classify(_ request: Request) async throws -> Response {
        let b = try JSONBody(try await body(request))
        let m = try models.model(named: try b.string("model"), task: "classification", endpoint: "/v1/classify")
        let (texts, single) = try b.texts(limits)
        let c = Unchecked(m.run as! TextClassification)
        let top = try b.integer("top", default: 1, in: 1...max(1, c.value.labels.count))
        let run: @Sendable ([String]) async throws -> [String] = { texts in
            try await self.infer {
                zip(texts, c.value.classify(texts, top: top)).map {
                    InferenceJSON.classification(text: $0, ranked: $1).text
                }
            }
        }
        let lines = try await batched("classify|\(m.name)|\(top)", texts, run)
        return json(.ok, results(lines, single: single, model: m.name))
    }

    /// The picture is the body (PNG or JPEG); `?top=K&model=NAME&name=…` in the query.
    func predict(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        let m = try models.model(
            named: query["model"].map(String.init), task: "image-classification", endpoint: "/v1/predict")
        let c = m.run as! ImageClassification
        let top: Int
        if let t = query["top"] {
            guard let k = Int(t), (1...c.labels.count).contains(k) else {
                throw APIError(.badRequest, "out_of_range", "top: expected an integer in 1…\(c.labels.count)")
            }
            top = k
        } else {
            top = 1
        }
        let image = Unchecked(try picture(try await body(request)))
        let name = query["name"].map(String.init) ?? "body"
        let model = Unchecked(c)
        let line = try await infer {
            InferenceJSON.image(name, ranked: model.value.classify(image.value, top: top)).text
        }
        return json(.ok, results([line], single: true, model: m.name))
    }

    func picture(_ data: Data) throws -> RGBImage {
        guard !data.isEmpty else { throw APIError(.badRequest, "empty_body", "body: empty; expected a PNG or JPEG") }
        guard ImageDecoding.format(of: data) != nil else {
            throw APIError(.unsupportedMediaType, "not_an_image", "body: not a PNG or JPEG image")
        }
        do { return try ImageDecoding.decode(data, path: "body") } catch {
            throw APIError(.badRequest, "bad_image", "body: \(error)")
        }
    }

    /// `{"text", "model", "beam"}` for a text model, or a PNG/JPEG body (`?model=`) for an image model: the maps of
    /// every attention layer, as `attn attention` exports them (maps.json's index, then per layer [heads][queries][keys]).
    func attention(_ request: Request) async throws -> Response {
        let data = try await body(request)
        let query = request.uri.queryParameters
        var req = AttentionRequest()
        req.pictures = false  // the arrays and maps.json are the answer; no PNGs or page to draw
        let m: ServedModel
        let imageFile: URL?
        if ImageDecoding.format(of: data) != nil {
            m = try models.model(
                named: query["model"].map(String.init), task: "image-classification", endpoint: "/v1/attention")
            _ = try picture(data)
            let f = FileManager.default.temporaryDirectory.appendingPathComponent("attn-serve-\(UUID().uuidString)")
            try data.write(to: f)
            imageFile = f
            req.image = f.path
        } else {
            let b = try JSONBody(data)
            m = try models.model(
                named: try b.string("model"), tasks: ["translation", "classification", "language-model"],
                endpoint: "/v1/attention")
            let (texts, _) = try b.texts(RequestLimits(maxTextBytes: limits.maxTextBytes, maxTexts: 1))
            req.text = texts[0]
            req.beam = try b.integer("beam", default: 1, in: 1...limits.maxBeam)
            imageFile = nil
        }
        let run = Unchecked(m.run)
        let request = Unchecked(req)
        let text = try await infer { () throws -> String in
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("attn-serve-\(UUID().uuidString)")
            defer {
                try? FileManager.default.removeItem(at: dir)
                if let imageFile { try? FileManager.default.removeItem(at: imageFile) }
            }
            let answer = try run.value.writeAttentionReport(request.value, to: dir)
            let index = try Data(contentsOf: dir.appendingPathComponent("maps.json"))
            guard let object = try JSONSerialization.jsonObject(with: index) as? [String: Any],
                let layers = object["layers"] as? [[String: Any]]
            else { throw APIError(.internalServerError, "internal", "the attention export has no layers") }
            var maps: [Any] = []
            for l in layers {
                guard let file = l["file"] as? String else { continue }
                let t = try NPY.decode(try Data(contentsOf: dir.appendingPathComponent(file)))
                guard t.shape.count == 3 else { continue }
                let (h, q, k, v) = (t.shape[0], t.shape[1], t.shape[2], t.scalars)
                maps.append(
                    (0..<h).map { hh in
                        (0..<q).map { r in (0..<k).map { c in Double(v[(hh * q + r) * k + c]) } }
                    })
            }
            let out: [String: Any] = ["model": m.name, "answer": answer, "index": object, "maps": maps]
            return String(
                decoding: try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys]), as: UTF8.self)
        }
        return json(.ok, text)
    }

    /// `{"prompt", "max_new_tokens", "temperature", "top_k", "top_p", "seed", "stream"}`: the continuation, or with
    /// `"stream": true` server-sent events, one `data: {"text": piece}` per decoded piece, then `data: [DONE]`.
    func generate(_ request: Request) async throws -> Response {
        let b = try JSONBody(try await body(request))
        let m = try models.model(named: try b.string("model"), task: "language-model", endpoint: "/v1/generate")
        guard let prompt = try b.string("prompt") else {
            throw APIError(.badRequest, "missing_field", "prompt: missing")
        }
        guard prompt.utf8.count <= limits.maxTextBytes else {
            throw APIError(.contentTooLarge, "text_too_long", "prompt: more than \(limits.maxTextBytes) bytes")
        }
        let maxNew = try b.integer("max_new_tokens", default: 50, in: 1...limits.maxNewTokens)
        let temperature = try b.number("temperature", default: 1, in: 0...100)
        let topK = try b.integer("top_k", default: 0, in: 0...1_000_000)
        let topP = try b.number("top_p", default: 1, in: 0...1)
        let seed = try b.integer("seed", default: 0, in: 0...Int.max)
        let stream = try b.bool("stream") ?? false
        let lm = Unchecked(m.run as! LanguageModel)
        let sampling = Sampling(
            temperature: Float(temperature), topK: topK == 0 ? nil : topK, topP: topP >= 1 ? nil : Float(topP))
        let generate = { @Sendable (onText: @escaping (String) -> Void) throws -> String in
            try lm.value.generate(
                prompt, maxNewTokens: maxNew, sampling: sampling, samples: 1, seed: UInt64(seed),
                onText: { _, piece in onText(piece) })[0]
        }
        guard stream else {
            let text = try await infer { try generate { _ in } }
            let line = JSONLine.object([("prompt", .string(prompt)), ("text", .string(text))]).text
            return json(.ok, results([line], single: true, model: m.name))
        }
        let (pieces, continuation) = AsyncStream.makeStream(of: String.self)
        let task = Task {
            defer { continuation.finish() }
            _ = try await self.infer { try generate { continuation.yield($0) } }
        }
        _ = task
        return Response(
            status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: .init { writer in
                for await piece in pieces {
                    let event = JSONLine.object([("text", .string(piece))]).text
                    try await writer.write(ByteBuffer(string: "data: \(event)\n\n"))
                }
                try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                try await writer.finish(nil)
            })
    }

    /// One object per input, as the CLI's `--json` lines: a single `text` answers with the object itself (plus
    /// `model`), `texts` with `{"model", "results": [...]}`.
    func results(_ lines: [String], single: Bool, model: String) -> String {
        if single, let line = lines.first, line.hasPrefix("{") {
            return "{\"model\": " + JSONLine.string(model).text + ", " + line.dropFirst()
        }
        return "{\"model\": " + JSONLine.string(model).text + ", \"results\": [" + lines.joined(separator: ", ") + "]}"
    }
}

/// A value handed to an inference thread. The models are read-only at inference (no gradients, no training state
/// changes), and each request's inputs belong to that request alone.
struct Unchecked<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// One `Batcher` per key (model and settings), made on first use; the first request's run closure serves the key.
final class Batchers: @unchecked Sendable {
    private let lock = NSLock()
    private var batchers: [String: Batcher] = [:]
    func batcher(
        for key: String, maxTexts: Int, wait: Duration,
        run: @escaping @Sendable ([String]) async throws -> [String]
    ) -> Batcher {
        lock.withLock {
            if let b = batchers[key] { return b }
            let b = Batcher(maxTexts: maxTexts, wait: wait) { _, texts in try await run(texts) }
            batchers[key] = b
            return b
        }
    }
}
