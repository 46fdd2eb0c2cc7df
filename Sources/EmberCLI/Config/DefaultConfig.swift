/// The experiment `ember train` runs without a config: a small CNN on the bundled 8x8 digits (about 97-99% test
/// accuracy in well under a minute on two cores).
public enum DefaultConfig {
    /// The default config, as YAML.
    public static let yaml = """
        # Ember's default experiment: a small CNN on scikit-learn's 8x8 handwritten digits (bundled).
        data:
          dataset: digits
          scale: 0.0625              # pixel values 0...16 -> 0...1
          shape: [1, 8, 8]           # each row of 64 pixels as a 1x8x8 image
          split: {test: 0.2, validation: 0.1, stratify: true}
        model:
          preset: cnn-small
          options: {channels: [32, 64], hidden: 128, dropout: 0.25}
        training:
          optimizer: {name: adamw, lr: 0.002, weight_decay: 0.0001}
          schedule: cosine
          batch_size: 32
          epochs: 30
          seed: 0
          callbacks:
            checkpoint: {every_batches: 20}
        evaluation:
          metrics: [accuracy, loss, macro_f1, roc_auc, confusion_matrix]
        outputs:
          directory: runs
          name: digits-cnn

        """
}
