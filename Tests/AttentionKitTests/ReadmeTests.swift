import AttentionKit
import Foundation
import XCTest

/// The README's promise: every shell block marked `<!-- runnable -->` runs on a fresh clone, without `../shared`, on
/// the samples in `corpora/`. The blocks run in order in one empty directory holding only a link to `corpora/`, with the
/// suite's own `attn` on the PATH (the block's `swift build … && export PATH=…` line is that step, already done).
final class ReadmeTests: XCTestCase {
    /// The runnable shell blocks of a Markdown text, in order.
    static func runnableBlocks(_ markdown: String) -> [String] {
        var blocks: [String] = [], current: [String]? = nil, marked = false
        for line in markdown.components(separatedBy: "\n") {
            if var c = current {
                if line.hasPrefix("```") {
                    blocks.append(c.joined(separator: "\n")); current = nil
                } else {
                    c.append(line); current = c
                }
            } else if line.trimmingCharacters(in: .whitespaces) == "<!-- runnable -->" {
                marked = true
            } else if line.hasPrefix("```") {
                if marked && line.hasPrefix("```sh") { current = [] }
                marked = false
            } else if !line.trimmingCharacters(in: .whitespaces).isEmpty {
                marked = false
            }
        }
        return blocks
    }

    func testRunnableBlocksRunOnAFreshCloneWithTheSamples() throws {
        let readme = try String(contentsOfFile: repositoryFile("README.md"), encoding: .utf8)
        XCTAssertFalse(readme.contains("../shared"), "a user's clone has no ../shared")
        let blocks = Self.runnableBlocks(readme)
        XCTAssertGreaterThanOrEqual(blocks.count, 5, "the tour's blocks are marked runnable")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ak-readme-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createSymbolicLink(
            atPath: dir.appendingPathComponent("corpora").path, withDestinationPath: repositoryFile("corpora"))
        let bin = try builtBinary("attn").deletingLastPathComponent().path
        var commands = 0
        for block in blocks {
            let body = block.components(separatedBy: "\n").map {
                $0.hasPrefix("swift build") ? ": built by the suite" : $0
            }
            commands += body.filter { $0.hasPrefix("attn ") || $0.contains("| attn ") }.count
            // a block that starts a server in the background stops it when it ends, passing or failing (an orphaned
            // server would hold the output pipes open)
            let script =
                "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\nexport PATH='\(bin)':\"$PATH\"\n"
                + body.joined(separator: "\n") + "\n"
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/bash")
            p.arguments = ["-c", script]
            p.currentDirectoryURL = dir
            let out = Pipe(), err = Pipe()
            (p.standardOutput, p.standardError) = (out, err)
            try p.run()
            let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            XCTAssertEqual(
                p.terminationStatus, 0,
                "README block failed:\n\(block)\nstdout:\n\(o.suffix(2000))\nstderr:\n\(e.suffix(2000))")
            // what --json printed is JSON, one object per line
            for line in o.split(separator: "\n") where line.hasPrefix("{") {
                XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(line.utf8)), String(line))
            }
        }
        XCTAssertGreaterThanOrEqual(commands, 12, "the tour runs the verbs")
    }

    func testOnlyMarkedShellBlocksAreTaken() {
        let md =
            "<!-- runnable -->\n```sh\necho a\n```\n\n```sh\necho b\n```\n<!-- runnable -->\ntext\n```sh\necho c\n```\n"
        XCTAssertEqual(Self.runnableBlocks(md), ["echo a"])
    }

    /// The README's library snippet, compiled here: the test checks that the README holds exactly these lines.
    func testLibrarySnippetCompilesLearnsAndIsTheREADMEs() throws {
        // README snippet begin
        var rng = RandomGenerator(seed: 0)  // randomness comes from a generator you own
        let (x, y) = ToyData.spiral(classes: 3, pointsPerClass: 100, using: &rng)  // [300, 2] points, [300] labels
        let model = Sequential([Linear(2, 64, using: &rng), ReLU(), Linear(64, 3, using: &rng)])
        let optimizer = AdamW(parameters: model.parameters, learningRate: 1e-2)
        for _ in 0..<300 {
            let loss = Loss.crossEntropy(model(x), y)  // ops record a graph…
            optimizer.zeroGrad()
            loss.backward()  // …and backward fills every parameter's gradient
            optimizer.step()
        }
        let accuracy = withNoGrad { model(x).argmax(axis: 1).eq(y).mean().item() }
        // README snippet end
        XCTAssertGreaterThan(accuracy, 0.9)
        let source = try String(contentsOfFile: #filePath, encoding: .utf8).components(separatedBy: "\n")
        let begin = source.firstIndex { $0.hasSuffix("// README snippet begin") }!,
            end = source.firstIndex { $0.hasSuffix("// README snippet end") }!
        let snippet = source[(begin + 1)..<end].map { String($0.dropFirst(8)) }.joined(separator: "\n")
        let readme = try String(contentsOfFile: repositoryFile("README.md"), encoding: .utf8)
        XCTAssertTrue(
            readme.contains("import AttentionKit\n\n" + snippet + "\n```"),
            "README's snippet differs from this test's:\n\(snippet)")
    }
}
