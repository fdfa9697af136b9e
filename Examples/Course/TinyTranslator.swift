import AttentionKit
import Foundation

/// Lesson 5: a transformer translator, German → English — tokenizers, an encoder–decoder trained with teacher
/// forcing, beam search, BLEU on held-out sentences.
enum TinyTranslator {
    static func run() throws {
        // 1. Data: sentence pairs (line i of train.de translates line i of train.en); a seeded tenth held out.
        let directory = Course.dataDirectory(default: "corpora/multi30k-sample")
        let pairs = try ParallelCorpus.read(
            source: directory.appendingPathComponent("train.de"),
            target: directory.appendingPathComponent("train.en")
        ).pairs
        let (train, validation) = ParallelCorpus.split(pairs, validationFraction: 0.1, seed: 0)

        // 2. Tokenizers: word-level vocabularies trained on the training side only, with [PAD]=0, [BOS]=1,
        //    [EOS]=2, [UNK]=3.
        let recipe = TokenizerRecipe.wordLevel(lowercase: true, minFrequency: 1)
        let source = recipe.train(on: train.map(\.source)), target = recipe.train(on: train.map(\.target))

        // 3. The model: a small pre-norm encoder–decoder (nn.Transformer's layers) with sinusoidal positions.
        var config = Seq2SeqConfig(sourceVocabulary: source.vocabularySize, targetVocabulary: target.vocabularySize)
        (config.dModel, config.heads, config.encoderLayers, config.decoderLayers, config.feedForward) = (
            128, 4, 2, 2, 256
        )
        var g = RandomGenerator(seed: 0)
        let translator = Translator(
            model: Seq2SeqTransformer(config, using: &g), sourceTokenizer: source,
            targetTokenizer: target)
        print(
            "\(train.count) training pairs; vocabularies \(source.vocabularySize) → \(target.vocabularySize); "
                + "\(translator.model.parameterCount()) parameters")

        // 4. Teacher forcing: the decoder reads [BOS] y1 … yn and is trained to predict y1 … yn [EOS] at every
        //    position at once (the causal mask hides the future), in batches of about 1,000 target tokens.
        var batches = TokenBudgetBatches(
            train.map {
                TokenPair(
                    source: translator.sourceIDs($0.source),
                    target: translator.targetIDs($0.target))
            },
            maxTokens: 1000, padID: config.padID, seed: 0)
        let optimizer = AdamW(parameters: translator.model.parameters, learningRate: 1e-3, weightDecay: 0.01)
        for epoch in 1...Course.steps(40) {
            translator.model.train()
            var lossSum: Float = 0, tokens = 0
            while let batch = batches.next() {
                let logits = translator.model(source: batch.source, targetInput: batch.targetInput)  // [B, T, V]
                let loss = Loss.crossEntropy(
                    logits.reshape([-1, config.targetVocabulary]), batch.targetOutput,
                    ignoreIndex: config.padID, labelSmoothing: 0.1)
                optimizer.zeroGrad()
                loss.backward()
                optimizer.step()
                lossSum += loss.item() * Float(batch.tokens)
                tokens += batch.tokens
            }
            batches.startNextEpoch()
            if epoch % 10 == 0 || epoch == 1 { print("epoch \(epoch): loss \(lossSum / Float(max(tokens, 1)))") }
        }

        // 5. Beam search (5 hypotheses, GNMT length penalty) on the held-out sentences, and their BLEU.
        let hypotheses = translator.translate(validation.map(\.source), beam: 5).map { $0.first?.text ?? "" }
        for (pair, hypothesis) in zip(validation, hypotheses).prefix(3) {
            print("\(pair.source)\n  → \(hypothesis)\n  reference: \(pair.target)")
        }
        print(corpusBLEU(hypotheses: hypotheses, references: validation.map(\.target), lowercase: true))
    }
}
