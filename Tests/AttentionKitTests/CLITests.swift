import AttentionKit
import Foundation
import XCTest

/// Runs the built `attn` binary and checks what a user sees.
final class CLITests: XCTestCase {
    /// The directory holding the built products (the test bundle's own directory).
    func binary(_ name: String) throws -> URL {
        let candidates = [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()]
            .map { $0.appendingPathComponent(name) }
        guard let url = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            XCTFail("\(name) binary not found next to the tests (looked in \(candidates.map(\.path)))")
            throw CocoaError(.fileNoSuchFile)
        }
        return url
    }

    func run(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = try binary("attn")
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    func testVersion() throws {
        let r = try run(["--version"])
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.out.trimmingCharacters(in: .whitespacesAndNewlines), AttentionKit.version)
    }

    func testHelp() throws {
        let r = try run(["--help"])
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(r.out.contains("USAGE: attn"), r.out)
        XCTAssertTrue(r.out.contains("--version"), r.out)
    }

    func testUnknownFlagFailsWithMessage() throws {
        let r = try run(["--no-such-flag"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.err.contains("--no-such-flag"), r.err)
    }
}
