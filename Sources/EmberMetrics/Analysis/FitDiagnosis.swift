import EmberTrain
import Foundation

/// An over/underfitting verdict read from a training history, with the evidence in plain words and what to try next.
///
/// ```swift
/// let history = try trainer.fit(train, validation: val, epochs: 30)
/// let d = diagnoseFit(history, baselineLoss: log(10))   // chance-level cross-entropy for 10 classes
/// print(d)   // "Overfitting. Validation loss was lowest at epoch 7 (0.412) and rose to 0.530 by epoch 30 ..."
/// ```
public struct FitDiagnosis: Sendable, Hashable, CustomStringConvertible {
    /// The overall reading of the curves.
    public enum Verdict: String, Sendable, Hashable {
        /// Validation loss rose after its best epoch, or sits well above a low training loss without improving.
        case overfitting
        /// Training and validation losses are both high: the model has not learned the task.
        case underfitting
        /// Both losses are still falling: more epochs should help.
        case stillImproving
        /// Validation loss tracks a low training loss and has settled.
        case goodFit
        /// Not enough history to tell (no validation loss, or fewer than two epochs).
        case insufficientData
    }

    /// The verdict.
    public let verdict: Verdict
    /// Sentences stating the facts behind the verdict.
    public let evidence: [String]
    /// What to try next, most useful first.
    public let suggestions: [String]
    /// The epoch (1-based) with the lowest validation loss.
    public let bestEpoch: Int?
    /// Training loss of the last epoch.
    public let finalTrainingLoss: Double?
    /// Validation loss of the last epoch.
    public let finalValidationLoss: Double?
    /// Whether training loss fell by more than the plateau threshold over the last epochs.
    public let trainingLossFalling: Bool

    /// A readable name of the verdict.
    public var title: String {
        switch verdict {
        case .overfitting: return "Overfitting"
        case .underfitting: return "Underfitting"
        case .stillImproving: return "Still improving"
        case .goodFit: return "Good fit"
        case .insufficientData: return "Not enough data to diagnose"
        }
    }

    public var description: String {
        var s = title + ".\n"
        for e in evidence { s += "- " + e + "\n" }
        if !suggestions.isEmpty {
            s += "Try next:\n"
            for t in suggestions { s += "- " + t + "\n" }
        }
        return s
    }
}

/// Thresholds behind ``diagnoseFit(_:loss:validationLoss:baselineLoss:thresholds:)``. The defaults suit losses such as
/// cross-entropy and MSE; each is relative, so the scale of the loss does not matter.
public struct DiagnosisThresholds: Sendable, Hashable {
    /// Validation loss this much above its minimum (relative) at the last epoch counts as a rise. Default 5%.
    public var rise: Double = 0.05
    /// Validation loss this much above training loss (relative) counts as a large gap. Default 25%.
    public var gap: Double = 0.25
    /// A loss that fell by less than this (relative) over the last `window` epochs has flattened. Default 1%.
    public var plateau: Double = 0.01
    /// Epochs over which the trend is measured. Default 3.
    public var window: Int = 3
    /// A final loss above this fraction of the baseline is "high". Default 0.5.
    public var highFraction: Double = 0.5

    /// The defaults.
    public init() {}
}

private func fmt(_ x: Double) -> String {
    let a = Swift.abs(x)
    if a != 0 && (a < 0.001 || a >= 10000) { return String(format: "%.3g", x) }
    return String(format: a < 1 ? "%.4f" : "%.3f", x)
}

private func pct(_ x: Double) -> String { String(format: "%.1f%%", x * 100) }

/// Reads over/underfitting from a training history (see ``FitDiagnosis``).
///
/// - Parameters:
///   - history: per-epoch values from `Trainer.fit`.
///   - loss: the training-loss key. - validationLoss: the validation-loss key.
///   - baselineLoss: the loss of a model that learned nothing (ln(classes) for cross-entropy, the target variance
///     for MSE). Without it the first epoch's training loss is the baseline.
public func diagnoseFit(_ history: History, loss: String = "loss", validationLoss: String = "val_loss",
                        baselineLoss: Double? = nil, thresholds: DiagnosisThresholds = DiagnosisThresholds()) -> FitDiagnosis {
    let train = (history[loss] ?? []).filter(\.isFinite)
    let val = (history[validationLoss] ?? []).filter(\.isFinite)
    func insufficient(_ why: String) -> FitDiagnosis {
        FitDiagnosis(verdict: .insufficientData, evidence: [why],
                     suggestions: ["Pass validation data to fit and train for at least two epochs, so training and validation curves can be compared."],
                     bestEpoch: nil, finalTrainingLoss: train.last, finalValidationLoss: val.last, trainingLossFalling: false)
    }
    if train.count < 2 { return insufficient("Only \(train.count) epoch(s) of training loss were recorded.") }
    if val.count < 2 { return insufficient("No validation loss was recorded (key \"\(validationLoss)\").") }

    // Epochs where both losses are finite (a NaN epoch is skipped, keeping the other epochs' numbers).
    let rawT = history[loss]!, rawV = history[validationLoss]!
    let kept = (0..<Swift.min(rawT.count, rawV.count)).filter { rawT[$0].isFinite && rawV[$0].isFinite }
    if kept.count < 2 { return insufficient("Fewer than two epochs have both a training and a validation loss.") }
    let n = kept.count
    let t = kept.map { rawT[$0] }, v = kept.map { rawV[$0] }
    func ep(_ i: Int) -> Int { kept[i] + 1 }
    let best = v.indices.min { v[$0] < v[$1] }!
    let lastT = t[n - 1], lastV = v[n - 1], bestV = v[best]
    let w = Swift.min(thresholds.window, n - 1)
    func drop(_ xs: [Double]) -> Double { (xs[n - 1 - w] - xs[n - 1]) / Swift.max(Swift.abs(xs[n - 1 - w]), 1e-12) }
    let trainDrop = drop(t), valDrop = drop(v)
    let trainFalling = trainDrop > thresholds.plateau, valFalling = valDrop > thresholds.plateau
    let rise = (lastV - bestV) / Swift.max(Swift.abs(bestV), 1e-12)
    let gap = (lastV - lastT) / Swift.max(Swift.abs(lastT), 1e-12)
    let baseline = baselineLoss ?? t[0]
    let baselineName = baselineLoss == nil ? "the first epoch's training loss" : "the baseline loss"
    let trainHigh = lastT > thresholds.highFraction * baseline
    let valHigh = lastV > thresholds.highFraction * baseline

    var evidence: [String] = []
    if best < n - 1 {
        evidence.append("Validation loss was lowest at epoch \(ep(best)) (\(fmt(bestV))) and is \(fmt(lastV)) at epoch \(ep(n - 1)) (\(rise >= 0 ? "+" : "")\(pct(rise))).")
    } else {
        evidence.append("Validation loss is at its lowest at the last epoch, \(ep(n - 1)) (\(fmt(lastV))).")
    }
    let trend = trainFalling ? "still falling" : "flat"
    evidence.append("Training loss is \(trend): \(fmt(t[n - 1 - w])) at epoch \(ep(n - 1 - w)) to \(fmt(lastT)) at epoch \(ep(n - 1)) (\(pct(-trainDrop)) change over \(w) epoch\(w == 1 ? "" : "s")).")
    if gap > 0 {
        evidence.append("At the last epoch validation loss is \(pct(gap)) above training loss (\(fmt(lastV)) vs \(fmt(lastT))).")
    } else {
        evidence.append("At the last epoch validation loss is not above training loss (\(fmt(lastV)) vs \(fmt(lastT))).")
    }
    if trainHigh && valHigh {
        evidence.append("Both losses are high: training \(fmt(lastT)) and validation \(fmt(lastV)) are above \(Int(thresholds.highFraction * 100))% of \(baselineName) (\(fmt(baseline))).")
    } else {
        evidence.append("Training loss fell to \(pct(lastT / baseline)) of \(baselineName) (\(fmt(baseline))).")
    }
    for key in ["accuracy", "val_accuracy"] {
        if let a = history[key]?.last(where: \.isFinite) { evidence.append("Final \(key.replacingOccurrences(of: "_", with: " ")): \(pct(a)).") }
    }

    let verdict: FitDiagnosis.Verdict
    if best < n - 1 && rise > thresholds.rise {
        verdict = .overfitting
    } else if trainHigh && valHigh {
        verdict = .underfitting
    } else if gap > thresholds.gap && !valFalling {
        verdict = .overfitting
    } else if trainFalling && valFalling {
        verdict = .stillImproving
    } else {
        verdict = .goodFit
    }

    var suggestions: [String]
    switch verdict {
    case .overfitting:
        suggestions = [
            best < n - 1
                ? "Keep the weights of epoch \(ep(best)): EarlyStopping(patience: 3, restoreBest: true) stops there for you."
                : "Stop earlier: EarlyStopping(patience: 3, restoreBest: true) keeps the best validation epoch.",
            "Regularize: weight decay (AdamW), dropout, or data augmentation.",
            "Get more training data, or use a smaller model.",
        ]
    case .underfitting:
        suggestions = [
            "Use a bigger model (more layers or units) or better features.",
            trainFalling ? "Train for more epochs: training loss is still falling." : "Raise the learning rate or change the optimizer: training loss has stalled.",
            "Reduce regularization (weight decay, dropout) if any.",
            "Check the data: inputs normalized, labels matching inputs.",
        ]
    case .stillImproving:
        suggestions = ["Train for more epochs: both losses are still falling.",
                       "Add EarlyStopping(patience: 3, restoreBest: true) so longer runs stop by themselves."]
    case .goodFit:
        suggestions = ["Nothing urgent: validation tracks training. Confirm once on the held-out test set.",
                       "To go further, try a larger model with regularization and compare validation loss."]
    case .insufficientData:
        suggestions = []
    }
    return FitDiagnosis(verdict: verdict, evidence: evidence, suggestions: suggestions, bestEpoch: ep(best),
                        finalTrainingLoss: lastT, finalValidationLoss: lastV, trainingLossFalling: trainFalling)
}
