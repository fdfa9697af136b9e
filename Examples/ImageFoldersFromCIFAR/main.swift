// image-folders-from-cifar: writes CIFAR-10 images as class folders (DIR/CLASS_NAME/NNNNN.png), the layout of
// torchvision's ImageFolder and of `attn train cnn|vit --data DIR`: a stand-in for "your own photos in folders",
// made from the CIFAR-10 sample of a clone or the full dataset.
// Usage: swift run -c release image-folders-from-cifar CIFAR_DIR OUT_DIR [CLASS,CLASS,…] [PER_CLASS]
//   CIFAR_DIR: a cifar-10-batches-bin directory (corpora/cifar10-sample in a clone); CLASS: names (default: all ten);
//   PER_CLASS: at most this many images per class (default: all).
import AttentionKit
import Foundation

let args = Array(CommandLine.arguments.dropFirst())
guard args.count >= 2 else {
    FileHandle.standardError.write(
        "usage: ImageFoldersFromCIFAR CIFAR_DIR OUT_DIR [CLASS,CLASS,…] [PER_CLASS]\n".data(using: .utf8)!)
    exit(64)
}
do {
    let cifar = try CIFAR10(directory: URL(fileURLWithPath: args[0]))
    let wanted = args.count > 2 ? args[2].split(separator: ",").map(String.init) : cifar.classNames
    let perClass = args.count > 3 ? Int(args[3]) ?? Int.max : Int.max
    for name in wanted where !cifar.classNames.contains(name) {
        throw DatasetError.invalid(
            path: args[0], reason: "has no class '\(name)' (its classes: \(cifar.classNames.joined(separator: ", ")))")
    }
    var written: [String: Int] = [:]
    for i in 0..<cifar.count {
        let name = cifar.classNames[cifar.labels[i]]
        guard wanted.contains(name), written[name, default: 0] < perClass else { continue }
        let folder = URL(fileURLWithPath: args[1]).appendingPathComponent(name)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        // one image: planar RGB bytes (the CIFAR record layout) → an RGBImage → PNG
        let bytes = Array(cifar.pixels[(i * cifar.bytesPerImage)..<((i + 1) * cifar.bytesPerImage)])
        try RGBImage(planar: bytes, width: cifar.side, height: cifar.side).writePNG(
            to: folder.appendingPathComponent(String(format: "%05d.png", i)))
        written[name, default: 0] += 1
    }
    for name in wanted { print("\(args[1])/\(name): \(written[name, default: 0]) images") }
} catch {
    FileHandle.standardError.write("ImageFoldersFromCIFAR: \(error)\n".data(using: .utf8)!)
    exit(1)
}
