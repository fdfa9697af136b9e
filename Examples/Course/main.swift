// course: the DocC tutorials' code, one lesson per file, each runnable on its own:
//   swift run -c release course perceptron|mlp|cnn|attention|translator|vit|transfer [DATA_DIR] [--quick]
// DATA_DIR: the CIFAR-10 binary folder of the image lessons (default corpora/cifar10-sample), or the folder with
// train.de and train.en of the translator (default corpora/multi30k-sample); run from the repository root.
// --quick shortens every loop to a few steps (what the tests run). The DocC tutorials
// (Sources/AttentionKit/AttentionKit.docc/Course) show these files; CI builds them and runs each lesson.
import AttentionKit
import Foundation

let lessons: [(name: String, run: () throws -> Void)] = [
    ("perceptron", Perceptron.run), ("mlp", MultiLayerPerceptron.run), ("cnn", ConvolutionalNetwork.run),
    ("attention", AttentionFromScratch.run), ("translator", TinyTranslator.run), ("vit", VisionTransformerLesson.run),
    ("transfer", TransferLearning.run)
]
let args = Array(CommandLine.arguments.dropFirst()).filter { $0 != "--quick" }
guard let name = args.first, let lesson = lessons.first(where: { $0.name == name }) else {
    print("usage: course \(lessons.map(\.name).joined(separator: "|")) [CIFAR_DIR]")
    exit(2)
}
do { try lesson.run() } catch {
    print("course \(name): \(error)")
    exit(1)
}

/// What the lessons share: where their data is and how long they train.
enum Course {
    /// `--quick`: a few steps of each loop, to check that a lesson runs.
    static let quick = CommandLine.arguments.contains("--quick")
    /// `n` steps, or a twentieth of them (at least 1) with `--quick`.
    static func steps(_ n: Int) -> Int { quick ? max(1, n / 20) : n }
    /// The data folder given after the lesson's name, or `fallback`.
    static func dataDirectory(default fallback: String) -> URL {
        let given = CommandLine.arguments.dropFirst().filter { $0 != "--quick" }
        return URL(fileURLWithPath: given.count > 1 ? given[given.startIndex + 1] : fallback)
    }
}
