import ArgumentParser
import AttentionKit

// The library's enums as flag values: `--schedule inverse-sqrt`, `--arch resnet20`, … (--help lists the choices).
extension ScheduleKind: ExpressibleByArgument {}
extension BadLinePolicy: ExpressibleByArgument {}
extension TokenizerKind: ExpressibleByArgument {}
extension PreTokenizerKind: ExpressibleByArgument {}
extension TextFormat.Layout: ExpressibleByArgument {}
extension ClassWeighting: ExpressibleByArgument {}
extension Pooling: ExpressibleByArgument, CaseIterable {
    public static var allCases: [Pooling] { [.cls, .mean, .max, .attention] }
}
extension ImageArchitecture: ExpressibleByArgument {}

/// `--model` of `attn train classifier`.
enum TextModelKind: String, CaseIterable, ExpressibleByArgument {
    case transformer, cnn, lstm, gru
}

/// `--label` of TREC data.
enum TRECLabel: String, CaseIterable, ExpressibleByArgument {
    case coarse, fine
}

/// `--positions` of the ViT.
/// `--tokenizer` of `attn train vit`.
enum ImageTokenizerFlag: String, CaseIterable, ExpressibleByArgument {
    case patches, conv
}

/// `--recipe` of `attn train vit`.
enum ViTRecipe: String, CaseIterable, ExpressibleByArgument {
    /// The plain ViT the course teaches (patches, mean pooling).
    case vit
    /// A compact convolutional transformer (Hassani et al. 2021): convolutional tokenizer, sequence pooling.
    case cct
    /// CCT for a few thousand images: a 3-stage tokenizer (16 tokens), Mixup 0.8 + CutMix 1, 130 epochs.
    case cctSmall = "cct-small"

    /// A convolutional tokenizer and sequence pooling (both CCT recipes).
    var isCCT: Bool { self != .vit }
}

enum PositionsFlag: String, CaseIterable, ExpressibleByArgument {
    case sincos, learned
    var kind: PositionKind { self == .sincos ? .sinusoidal : .learned }
}

/// `--recipe` of `attn train translation`.
enum TranslationRecipe: String, CaseIterable, ExpressibleByArgument {
    /// Word-level lowercased vocabularies, dropout 0.1, 12 epochs: the default.
    case word
    /// Joint byte-level BPE (8,000 tokens, shared embeddings), dropout 0.2, 18 epochs, cosine to a tenth of the peak,
    /// the last 3 epochs averaged.
    case bpe
}

/// `--model` of `attn train translation`.
enum TranslationModelKind: String, CaseIterable, ExpressibleByArgument {
    case transformer, rnn
}

/// `--cell` of a recurrent translator.
enum RecurrentCellFlag: String, CaseIterable, ExpressibleByArgument {
    case gru, lstm
}

/// `--attention` of a recurrent translator (Luong's dot needs the decoder and encoder widths equal: not offered).
enum TranslatorAttentionFlag: String, CaseIterable, ExpressibleByArgument {
    case additive, general
}

/// `--model` of a language model.
enum LanguageModelKind: String, CaseIterable, ExpressibleByArgument {
    case transformer, lstm, gru
}

/// `--optimizer` of a text classifier.
enum TextOptimizerFlag: String, CaseIterable, ExpressibleByArgument {
    case adamw, adadelta
}

/// `--recipe` of a text classifier.
enum TextRecipeFlag: String, CaseIterable, ExpressibleByArgument {
    case kim
}

/// `--case` of a word tokenizer.
enum LetterCaseFlag: String, CaseIterable, ExpressibleByArgument {
    case lower, keep
}

extension BadImagePolicy: ExpressibleByArgument {}
extension ImageNormalizationSource: ExpressibleByArgument {}

/// How `attn train classifier` splits words.
enum WordSplitFlag: String, CaseIterable, ExpressibleByArgument {
    case whitespace, kim
}
