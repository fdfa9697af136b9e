import AttentionKit
import Foundation

/// Prints a line to stdout immediately (stdout is block-buffered when redirected; progress lines must not wait).
/// In a distributed run only the lead process speaks.
func say(_ line: String) {
    guard isLeadProcess else { return }
    FileHandle.standardOutput.write((line + "\n").data(using: .utf8)!)
}

/// False on the processes of a distributed run other than the lead: they neither print nor write run files.
nonisolated(unsafe) var isLeadProcess = true
