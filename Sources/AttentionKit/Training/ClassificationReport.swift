import Foundation

/// Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix of a classification.
public struct ClassificationReport: Sendable {
    /// The class names, by label index.
    public let labels: [String]
    /// confusion[true][predicted]
    public let confusion: [[Int]]

    /// The report of these predictions against the truth.
    public init(labels: [String], truth: [Int], predicted: [Int]) {
        self.labels = labels
        var m = [[Int]](repeating: [Int](repeating: 0, count: labels.count), count: labels.count)
        for (t, p) in zip(truth, predicted) { m[t][p] += 1 }
        confusion = m
    }

    /// Number of examples.
    public var count: Int { confusion.joined().reduce(0, +) }
    /// Fraction of examples predicted correctly.
    public var accuracy: Double {
        Double((0..<labels.count).map { confusion[$0][$0] }.reduce(0, +)) / Double(max(count, 1))
    }

    /// (precision, recall, F1, support) of class k; 0 where undefined (scikit-learn's zero_division=0).
    public func perClass(_ k: Int) -> (precision: Double, recall: Double, f1: Double, support: Int) {
        let tp = Double(confusion[k][k])
        let predicted = Double((0..<labels.count).map { confusion[$0][k] }.reduce(0, +))
        let support = confusion[k].reduce(0, +)
        let p = predicted > 0 ? tp / predicted : 0, r = support > 0 ? tp / Double(support) : 0
        return (p, r, p + r > 0 ? 2 * p * r / (p + r) : 0, support)
    }

    /// The unweighted mean of the per-class F1 scores.
    public var macroF1: Double { labels.indices.map { perClass($0).f1 }.reduce(0, +) / Double(max(labels.count, 1)) }

    /// A text table: per-class precision, recall, F1, support, then the confusion matrix (rows: true labels).
    public var table: String {
        let w = max(8, (labels.map(\.count).max() ?? 0) + 1)
        func pad(_ s: String) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }
        var lines = [pad("class") + "precision  recall     f1  support"]
        for (k, l) in labels.enumerated() {
            let c = perClass(k)
            lines.append(pad(l) + String(format: "%9.3f %7.3f %6.3f %8d", c.precision, c.recall, c.f1, c.support))
        }
        lines.append(String(format: "accuracy %.4f   macro-F1 %.4f   n %d", accuracy, macroF1, count))
        lines.append("confusion (rows true, columns predicted):")
        lines.append(
            pad("") + labels.map { String($0.prefix(6)).padding(toLength: 7, withPad: " ", startingAt: 0) }.joined())
        for (k, l) in labels.enumerated() {
            lines.append(pad(l) + confusion[k].map { String(format: "%-7d", $0) }.joined())
        }
        return lines.joined(separator: "\n")
    }
}

/// The `k` most probable classes of a probability row with their probabilities, best first (ties: lower index first).
public func topLabels(_ p: [Float], labels: [String], k: Int) -> [(label: String, probability: Float)] {
    p.indices.sorted { p[$0] != p[$1] ? p[$0] > p[$1] : $0 < $1 }.prefix(k).map { (labels[$0], p[$0]) }
}

/// The index of the largest value of each row (the first on ties).
func argmaxRows(_ rows: [[Float]]) -> [Int] { rows.map { row in row.indices.max { row[$0] < row[$1] } ?? 0 } }
