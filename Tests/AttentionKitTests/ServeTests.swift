import AttentionKit
import Foundation
import XCTest

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `attn serve` as a client sees it: a real server on an ephemeral loopback port, every endpoint, answers equal to
/// the CLI's `--json` lines, every bad input a 4xx naming the field (and the server healthy after), the queue's 503,
/// the API key, and a graceful shutdown with a request in flight.
final class ServeTests: XCTestCase {
    nonisolated(unsafe) static var tmp: URL!
    nonisolated(unsafe) static var trained = false

    func path(_ n: String) -> String { Self.tmp.appendingPathComponent(n).path }

    /// One tiny translator, text classifier and CNN for every test of the class.
    override func setUpWithError() throws {
        if Self.trained { return }
        Self.tmp = FileManager.default.temporaryDirectory.appendingPathComponent("ak-serve-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: Self.tmp, withIntermediateDirectories: true)
        for side in ["de", "en"] {
            let lines = try String(
                contentsOfFile: repositoryFile("corpora/multi30k-sample/train.\(side)"), encoding: .utf8
            )
            .split(separator: "\n").prefix(40)
            try (lines.joined(separator: "\n") + "\n").write(
                toFile: path("train.\(side)"), atomically: true, encoding: .utf8)
        }
        for args in [
            [
                "train", "translation", "--source", path("train.de"), "--target", path("train.en"), "--out",
                path("tr"), "--epochs", "1", "--d-model", "16", "--heads", "2", "--layers", "1", "--feed-forward",
                "16", "--warmup-steps", "1", "--max-tokens", "400", "--min-frequency", "1", "--seed", "3"
            ],
            [
                "train", "classifier", "--format", "trec", "--data", repositoryFile("corpora/trec-sample/train.label"),
                "--out", path("cls"), "--epochs", "1", "--d-model", "8", "--heads", "2", "--layers", "1",
                "--feed-forward", "8"
            ],
            [
                "train", "cnn", "--data", repositoryFile("corpora/cifar10-sample"), "--out", path("cnn"), "--channels",
                "4,8", "--hidden", "8", "--epochs", "1", "--warmup-epochs", "0", "--batch-size", "32"
            ],
            [
                "train", "lm", "--data", repositoryFile("corpora/shakespeare-sample/input.txt"), "--max-steps", "5",
                "--layers", "1", "--d-model", "16", "--out", path("lm")
            ]
        ] {
            let r = try runAttn(args)
            XCTAssertEqual(r.status, 0, r.err)
        }
        Self.trained = true
    }

    override class func tearDown() {
        if let tmp { try? FileManager.default.removeItem(at: tmp) }
    }

    /// A running `attn serve`: its process and base URL.
    final class Server: @unchecked Sendable {
        let process = Process()
        var base = ""
        init(_ args: [String]) throws {
            process.executableURL = try builtBinary("attn")
            process.arguments = ["serve", "--port", "0"] + args
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            try process.run()
            var text = ""
            let deadline = Date().addingTimeInterval(60)
            while !text.contains("\n") && Date() < deadline {
                let d = out.fileHandleForReading.availableData
                if d.isEmpty { break }
                text += String(decoding: d, as: UTF8.self)
            }
            guard let line = text.split(separator: "\n").first, line.hasPrefix("listening on ") else {
                process.terminate()
                throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "no listening line: \(text)"])
            }
            base = String(line.dropFirst("listening on ".count))
        }
        func stop() -> Int32 {
            if process.isRunning { process.interrupt() }
            process.waitUntilExit()
            return process.terminationStatus
        }
    }

    struct Reply {
        let status: Int, body: Data, headers: [AnyHashable: Any]
        var text: String { String(decoding: body, as: UTF8.self) }
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body) as? [String: Any]) ?? [:] }
        var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
    }

    func call(
        _ server: Server, _ method: String, _ endpoint: String, body: Data? = nil, json: Any? = nil,
        headers: [String: String] = [:]
    ) throws -> Reply {
        try Self.call(server, method, endpoint, body: body, json: json, headers: headers)
    }

    static func call(
        _ server: Server, _ method: String, _ endpoint: String, body: Data? = nil, json: Any? = nil,
        headers: [String: String] = [:]
    ) throws -> Reply {
        var r = URLRequest(url: URL(string: server.base + endpoint)!)
        r.httpMethod = method
        r.timeoutInterval = 120
        if let json {
            r.httpBody = try JSONSerialization.data(withJSONObject: json)
            r.setValue("application/json", forHTTPHeaderField: "Content-Type")
        } else if let body {
            r.httpBody = body
        }
        for (k, v) in headers { r.setValue(v, forHTTPHeaderField: k) }
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var reply: Reply?
        nonisolated(unsafe) var failure: Error?
        URLSession.shared.dataTask(with: r) { data, response, error in
            if let http = response as? HTTPURLResponse {
                reply = Reply(status: http.statusCode, body: data ?? Data(), headers: http.allHeaderFields)
            } else {
                failure = error
            }
            done.signal()
        }.resume()
        done.wait()
        if let failure { throw failure }
        return reply!
    }

    /// A JSON value as sorted-key JSON text (dictionaries compare by content, not by their order).
    func canonical(_ v: Any?) -> String {
        guard let v, let d = try? JSONSerialization.data(withJSONObject: [v], options: [.sortedKeys]) else {
            return "-"
        }
        return String(decoding: d, as: UTF8.self)
    }

    /// The CLI's --json line as a dictionary.
    func cliJSON(_ args: [String]) throws -> [String: Any] {
        let r = try runAttn(args + ["--json"])
        XCTAssertEqual(r.status, 0, r.err)
        let line = r.out.split(separator: "\n").first.map(String.init) ?? ""
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    func testEveryEndpointAnswersAsTheCLIDoes() throws {
        let s = try Server(["--checkpoint", path("tr"), "--checkpoint", path("cls"), "--checkpoint", path("cnn")])
        defer { XCTAssertEqual(s.stop(), 0) }
        XCTAssertEqual(try call(s, "GET", "/healthz").status, 200)
        let models = try call(s, "GET", "/v1/models")
        XCTAssertEqual(models.status, 200)
        let list = try XCTUnwrap(models.json["models"] as? [[String: Any]])
        XCTAssertEqual(list.map { $0["name"] as? String }, ["tr", "cls", "cnn"])
        XCTAssertEqual(list.map { $0["task"] as? String }, ["translation", "classification", "image-classification"])
        XCTAssertTrue(list.allSatisfy { ($0["parameters"] as? Int ?? 0) > 0 })

        // translation: the object `attn translate --json` prints, plus the model's name
        let sentence = "Ein Mann fährt Fahrrad."
        var t = try call(s, "POST", "/v1/translate", json: ["text": sentence, "beam": 3, "n_best": 2])
        XCTAssertEqual(t.status, 200, t.text)
        var cli = try cliJSON([
            "translate", "--checkpoint", path("tr"), "--text", sentence, "--beam", "3", "--n-best", "2"
        ])
        XCTAssertEqual(t.json["model"] as? String, "tr")
        for k in ["source", "translation", "score", "n_best"] {
            XCTAssertEqual(
                canonical(t.json[k]), canonical(cli[k]), "translate \(k)")
        }
        // a length penalty of the request's own, as the CLI's flag
        t = try call(s, "POST", "/v1/translate", json: ["text": sentence, "beam": 3, "n_best": 2, "length_penalty": 2])
        cli = try cliJSON([
            "translate", "--checkpoint", path("tr"), "--text", sentence, "--beam", "3", "--n-best", "2",
            "--length-penalty", "2"
        ])
        XCTAssertEqual(canonical(t.json["n_best"]), canonical(cli["n_best"]), "translate with length_penalty 2")
        t = try call(s, "POST", "/v1/translate", json: ["texts": [sentence, "Zwei Hunde."]])
        XCTAssertEqual((t.json["results"] as? [Any])?.count, 2, t.text)

        // classification
        let question = "What is the capital of France ?"
        let c = try call(s, "POST", "/v1/classify", json: ["text": question, "top": 3])
        XCTAssertEqual(c.status, 200, c.text)
        cli = try cliJSON(["classify", "--checkpoint", path("cls"), "--text", question, "--top", "3"])
        for k in ["text", "label", "probability", "top"] {
            XCTAssertEqual(canonical(c.json[k]), canonical(cli[k]), "classify \(k)")
        }

        // an image as the body
        let png = repositoryFile("Tests/AttentionKitTests/Fixtures/images/record0.png")
        let p = try call(
            s, "POST", "/v1/predict?top=2&name=\(png)", body: try Data(contentsOf: URL(fileURLWithPath: png)),
            headers: ["Content-Type": "image/png"])
        XCTAssertEqual(p.status, 200, p.text)
        cli = try cliJSON(["predict", "--checkpoint", path("cnn"), "--image", png, "--top", "2"])
        for k in ["image", "label", "probability", "top"] {
            XCTAssertEqual(canonical(p.json[k]), canonical(cli[k]), "predict \(k)")
        }

        // attention: one [heads][queries][keys] array per layer of the index
        let a = try call(s, "POST", "/v1/attention", json: ["text": sentence, "model": "tr"])
        XCTAssertEqual(a.status, 200, a.text)
        let index = try XCTUnwrap(a.json["index"] as? [String: Any])
        let layers = try XCTUnwrap(index["layers"] as? [[String: Any]])
        let maps = try XCTUnwrap(a.json["maps"] as? [[[[Double]]]])
        XCTAssertEqual(maps.count, layers.count)
        XCTAssertGreaterThan(layers.count, 0)
        for (l, m) in zip(layers, maps) {
            XCTAssertEqual([m.count, m[0].count, m[0][0].count], l["shape"] as? [Int])
            for row in m[0] { XCTAssertEqual(row.reduce(0, +), 1, accuracy: 1e-3) }  // softmax rows
        }
        XCTAssertNotNil((index["tokens"] as? [String: Any])?["source"])

        let metrics = try call(s, "GET", "/metrics")
        XCTAssertTrue(metrics.text.contains("attn_requests_total"), metrics.text)
        XCTAssertTrue(metrics.text.contains("attn_request_duration_seconds_bucket"), metrics.text)
    }

    func testBadInputGetsA4xxNamingTheFieldAndTheServerStaysUp() throws {
        let s = try Server([
            "--checkpoint", path("tr"), "--checkpoint", path("cls"), "--checkpoint", path("cnn"), "--max-body",
            "200000"
        ])
        defer { XCTAssertEqual(s.stop(), 0) }
        let cases: [(String, Reply, Int, String, String)] = [
            (
                "malformed", try call(s, "POST", "/v1/translate", body: Data("{\"text\": ".utf8)), 400,
                "malformed_json", "body"
            ),
            (
                "not an object", try call(s, "POST", "/v1/classify", body: Data("[1]".utf8)), 400, "malformed_json",
                "body"
            ),
            ("empty body", try call(s, "POST", "/v1/classify", body: Data()), 400, "empty_body", "body"),
            ("missing", try call(s, "POST", "/v1/translate", json: ["beam": 2]), 400, "missing_field", "text"),
            ("wrong type", try call(s, "POST", "/v1/translate", json: ["text": 3]), 400, "wrong_type", "text"),
            (
                "texts type", try call(s, "POST", "/v1/classify", json: ["texts": ["a", 1]]), 400, "wrong_type",
                "texts[1]"
            ),
            (
                "both", try call(s, "POST", "/v1/classify", json: ["text": "a", "texts": ["b"]]), 400,
                "conflicting_fields", "texts"
            ),
            ("empty text", try call(s, "POST", "/v1/translate", json: ["text": "  "]), 400, "empty_field", "text"),
            (
                "150 KB text",
                try call(s, "POST", "/v1/translate", json: ["text": String(repeating: "a", count: 150_000)]), 413,
                "text_too_long", "text"
            ),
            (
                "body over --max-body",
                try call(s, "POST", "/v1/translate", json: ["text": String(repeating: "a", count: 1 << 20)]), 413,
                "body_too_large", "body"
            ),
            (
                "invalid UTF-8", try call(s, "POST", "/v1/translate", body: Data([0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x7D])),
                400, "invalid_utf8", "body"
            ),
            (
                "beam 0", try call(s, "POST", "/v1/translate", json: ["text": "Ein Hund.", "beam": 0]), 400,
                "out_of_range", "beam"
            ),
            (
                "beam 10000", try call(s, "POST", "/v1/translate", json: ["text": "Ein Hund.", "beam": 10_000]), 400,
                "out_of_range", "beam"
            ),
            (
                "beam 2.5", try call(s, "POST", "/v1/translate", json: ["text": "Ein Hund.", "beam": 2.5]), 400,
                "wrong_type", "beam"
            ),
            (
                "n_best > beam",
                try call(s, "POST", "/v1/translate", json: ["text": "Ein Hund.", "beam": 2, "n_best": 3]), 400,
                "out_of_range", "n_best"
            ),
            (
                "unknown model", try call(s, "POST", "/v1/classify", json: ["text": "a", "model": "nope"]), 404,
                "unknown_model", "nope"
            ),
            (
                "wrong task", try call(s, "POST", "/v1/classify", json: ["text": "a", "model": "tr"]), 400,
                "wrong_task", "model"
            ),
            ("top 0", try call(s, "POST", "/v1/classify", json: ["text": "a", "top": 0]), 400, "out_of_range", "top"),
            (
                "not an image", try call(s, "POST", "/v1/predict", body: Data("hello, not a picture".utf8)), 415,
                "not_an_image", "body"
            ),
            (
                "truncated PNG",
                try call(
                    s, "POST", "/v1/predict",
                    body: try Data(
                        contentsOf: URL(
                            fileURLWithPath: repositoryFile("Tests/AttentionKitTests/Fixtures/images/record0.png"))
                    ).prefix(60)), 400, "bad_image", "body"
            ),
            (
                "no LM loaded", try call(s, "POST", "/v1/generate", json: ["prompt": "a"]), 404, "no_model",
                "language-model"
            )
        ]
        for (what, r, status, code, field) in cases {
            XCTAssertEqual(r.status, status, "\(what): \(r.text)")
            XCTAssertEqual(r.errorCode, code, "\(what): \(r.text)")
            let message = ((r.json["error"] as? [String: Any])?["message"] as? String) ?? ""
            XCTAssertTrue(message.contains(field), "\(what): the message names \(field): \(message)")
        }
        XCTAssertEqual(try call(s, "GET", "/healthz").status, 200)
        XCTAssertEqual(try call(s, "POST", "/v1/classify", json: ["text": "Who is he ?"]).status, 200)
        // nothing a client sent changed a run directory
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("tr/maps.json")))
    }

    func testTheQueueLimitAnswers503AndShutdownFinishesRequestsInFlight() throws {
        let s = try Server(["--checkpoint", path("tr"), "--max-concurrency", "1", "--queue", "0"])
        let texts = Array(repeating: "Ein Mann mit einem roten Hut fährt mit dem Fahrrad durch die Stadt.", count: 64)
        let group = DispatchGroup()
        final class Replies: @unchecked Sendable {
            let lock = NSLock()
            var statuses: [Int] = [], retryAfter: [String] = []
        }
        let replies = Replies()
        for _ in 0..<4 {
            group.enter()
            DispatchQueue.global().async {
                let r = try? Self.call(s, "POST", "/v1/translate", json: ["texts": texts, "beam": 8])
                replies.lock.withLock {
                    replies.statuses.append(r?.status ?? -1)
                    if let v = r?.headers["Retry-After"] as? String { replies.retryAfter.append(v) }
                }
                group.leave()
            }
        }
        group.wait()
        let (statuses, retryAfter) = (replies.statuses, replies.retryAfter)
        XCTAssertTrue(statuses.contains(200), "\(statuses)")
        XCTAssertTrue(statuses.contains(503), "\(statuses)")
        XCTAssertEqual(statuses.filter { $0 == 503 }.count, retryAfter.count, "every 503 says when to retry")

        // SIGINT with a request in flight: it is answered, then the server exits 0
        nonisolated(unsafe) var inFlight: Reply?
        let sent = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            inFlight = try? Self.call(s, "POST", "/v1/translate", json: ["texts": texts, "beam": 8])
            sent.signal()
        }
        usleep(300_000)
        XCTAssertEqual(s.stop(), 0)
        sent.wait()
        XCTAssertEqual(inFlight?.status, 200, inFlight?.text ?? "no reply")
    }

    /// --max-batch: concurrent classify requests run as one batch and each gets its own answers, equal to the
    /// unbatched server's.
    func testBatchedRequestsGetTheirOwnAnswers() throws {
        let plain = try Server(["--checkpoint", path("cls")])
        let questions = [
            "Who wrote Hamlet ?", "How far is the moon ?", "What is the capital of France ?",
            "When did the war end ?", "Why is the sky blue ?", "Where is Timbuktu ?"
        ]
        var expected: [String: [String: Any]] = [:]
        for q in questions { expected[q] = try call(plain, "POST", "/v1/classify", json: ["text": q, "top": 2]).json }
        XCTAssertEqual(plain.stop(), 0)
        let s = try Server(["--checkpoint", path("cls"), "--max-batch", "16", "--batch-wait-ms", "100"])
        defer { XCTAssertEqual(s.stop(), 0) }
        final class Replies: @unchecked Sendable {
            let lock = NSLock()
            var byText: [String: [String: Any]] = [:]
        }
        let replies = Replies()
        DispatchQueue.concurrentPerform(iterations: questions.count) { i in
            let r = try? Self.call(s, "POST", "/v1/classify", json: ["text": questions[i], "top": 2])
            replies.lock.withLock { replies.byText[questions[i]] = r?.json ?? [:] }
        }
        for q in questions {
            let got = replies.byText[q] ?? [:], want = expected[q] ?? [:]
            XCTAssertEqual(got["text"] as? String, q)
            XCTAssertEqual(got["label"] as? String, want["label"] as? String, q)
            XCTAssertEqual(
                (got["probability"] as? Double) ?? -1, (want["probability"] as? Double) ?? 1, accuracy: 1e-4, q)
        }
        // fewer batches than requests: some ran together
        let metrics = try call(s, "GET", "/metrics").text
        let line = metrics.split(separator: "\n").first { $0.hasPrefix("attn_batches_total ") }
        let batches = line.flatMap { Double($0.split(separator: " ").last ?? "") } ?? -1
        XCTAssertGreaterThan(batches, 0, metrics)
        XCTAssertLessThan(batches, Double(questions.count), metrics)
        XCTAssertTrue(metrics.contains("attn_batched_texts_total 6"), metrics)
    }

    /// A request past --timeout gets 504 (its work finishes in the background and frees its slot).
    func testARequestPastTheTimeoutGets504() throws {
        let s = try Server(["--checkpoint", path("tr"), "--timeout", "0.01", "--max-concurrency", "1"])
        defer { XCTAssertEqual(s.stop(), 0) }
        let texts = Array(repeating: "Ein Mann mit einem roten Hut fährt mit dem Fahrrad durch die Stadt.", count: 64)
        let r = try call(s, "POST", "/v1/translate", json: ["texts": texts, "beam": 8])
        XCTAssertEqual(r.status, 504, r.text)
        XCTAssertEqual(r.errorCode, "timeout")
        XCTAssertEqual(try call(s, "GET", "/healthz").status, 200)
    }

    func testAnAPIKeyIsRequiredWhenGiven() throws {
        let key = path("key.txt")
        try "s3cret-key\n".write(toFile: key, atomically: true, encoding: .utf8)
        let s = try Server(["--checkpoint", path("cls"), "--api-key-file", key])
        defer { XCTAssertEqual(s.stop(), 0) }
        XCTAssertEqual(try call(s, "POST", "/v1/classify", json: ["text": "Who ?"]).status, 401)
        XCTAssertEqual(
            try call(s, "POST", "/v1/classify", json: ["text": "Who ?"], headers: ["Authorization": "Bearer wrong"])
                .status, 401)
        XCTAssertEqual(
            try call(
                s, "POST", "/v1/classify", json: ["text": "Who ?"], headers: ["Authorization": "Bearer s3cret-key"]
            ).status, 200)
        XCTAssertEqual(try call(s, "GET", "/healthz").status, 200)  // health is not behind the key
    }

    /// The explorer at `/` in headless Chromium: the page loads, asks /v1/attention for the sentence in its
    /// fragment, and draws the translation and the maps with the report's code, without a script error.
    func testTheExplorerShowsATypedSentencesTranslationAndMaps() throws {
        let chromium = try headlessChromium()
        let s = try Server(["--checkpoint", path("tr")])
        defer { XCTAssertEqual(s.stop(), 0) }
        let dom = try browseHeadless(
            chromium, ["--dump-dom", s.base + "/#model=tr&text=Ein%20Hund%20l%C3%A4uft%20im%20Schnee."],
            budgetMilliseconds: 15000, limit: 90)
        XCTAssertTrue(dom.contains("data-live=\"1\""), "the answer was drawn: \(dom.prefix(3000))")
        XCTAssertTrue(dom.contains("data-ready=\"1\""), "render() ran to the end")
        XCTAssertFalse(
            dom.contains("data-errors"),
            "script errors: \(dom.components(separatedBy: "data-errors=").dropFirst().first?.prefix(300) ?? "")")
        XCTAssertTrue(dom.contains("Translation: "), "the translation is shown")
        XCTAssertTrue(dom.contains("<option value=\"0\">"), "the layer selector lists the layers")
        XCTAssertTrue(dom.contains("class=\"tok"), "the head view shows the tokens")
    }

    /// /v1/generate: the text `attn generate --json` gives for the same seed; streamed as server-sent events whose
    /// pieces add up to it, ending with [DONE].
    func testGenerateAnswersAsTheCLIAndStreams() throws {
        let s = try Server(["--checkpoint", path("lm")])
        defer { XCTAssertEqual(s.stop(), 0) }
        let body: [String: Any] = ["prompt": "ROMEO:", "max_new_tokens": 20, "seed": 3, "temperature": 0.8, "top_k": 10]
        let g = try call(s, "POST", "/v1/generate", json: body)
        XCTAssertEqual(g.status, 200, g.text)
        let cli = try cliJSON([
            "generate", "--checkpoint", path("lm"), "--prompt", "ROMEO:", "--max-new-tokens", "20", "--seed", "3",
            "--temperature", "0.8", "--top-k", "10"
        ])
        XCTAssertEqual(g.json["text"] as? String, cli["text"] as? String)
        var streamed = body
        streamed["stream"] = true
        let sse = try call(s, "POST", "/v1/generate", json: streamed)
        XCTAssertEqual(sse.status, 200)
        let events = sse.text.components(separatedBy: "\n\n").filter { $0.hasPrefix("data: ") }.map { $0.dropFirst(6) }
        XCTAssertEqual(events.last, "[DONE]", sse.text)
        let pieces = events.dropLast().compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["text"] as? String
        }
        XCTAssertEqual(pieces.joined(), g.json["text"] as? String)
        XCTAssertEqual(
            try call(s, "POST", "/v1/generate", json: ["prompt": "a", "max_new_tokens": 0]).errorCode, "out_of_range")
        XCTAssertEqual(try call(s, "POST", "/v1/generate", json: ["max_new_tokens": 3]).errorCode, "missing_field")
    }
}
