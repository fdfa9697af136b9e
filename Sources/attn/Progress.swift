import AttentionKit
import Foundation

/// Prints a line to stdout immediately (stdout is block-buffered when redirected; progress lines must not wait).
func say(_ line: String) {
    FileHandle.standardOutput.write((line + "\n").data(using: .utf8)!)
}
