import EmberCLI
import EmberData
import Foundation

/// SageMaker's inference container contract: `GET /ping` and `POST /invocations`, whose body is `text/csv` (one
/// example per line; a first line of feature names is allowed and picks columns by name), `application/json`
/// (`{"instances": [...]}`, `{"inputs": [...]}` or a bare array; each example flat or nested) or
/// `application/x-npy` (a NumPy array `[N, ...]`, or one example of the model's raw shape).
///
/// The answer is `{"predictions": [...]}` with one object per example as `ember predict --json` prints it, or CSV
/// (`class,probability` or the values) when the request's `Accept` is `text/csv`.
public enum SageMaker {
    /// The default model directory inside a SageMaker container.
    public static let defaultModelDirectory = "/opt/ml/model"

    /// The raw examples in an `/invocations` body: `count * featureCount` values.
    public static func decode(_ body: [UInt8], contentType: String?, model: ServedModel) throws -> (values: [Float], count: Int) {
        let type = (contentType ?? "application/json").split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        switch type {
        case "text/csv", "text/plain":
            guard let text = String(validating: body, as: UTF8.self) else { throw ServeError.badRequest("body", "CSV is not valid UTF-8") }
            return try csv(text, model: model)
        case "application/json", "application/jsonlines", "":
            let value: JSONValue
            do { value = try FastJSON.parse(body) } catch { throw ServeError.badRequest("body", "not valid JSON") }
            return try json(value, model: model)
        case "application/x-npy", "application/npy":
            let array: NPYArray
            do { array = try NPYArray(bytes: body, file: "body") } catch { throw ServeError.badRequest("body", "not a .npy array: \(error)") }
            let t: Tensor
            do { t = try array.tensor().cast(.float32) } catch { throw ServeError.badRequest("body", "\(error)") }
            var shape = t.shape
            if shape == model.rawShape || shape == [model.featureCount] { shape = [1] + shape }
            let count = try model.exampleCount(shape: shape, field: "body (npy shape)")
            let values = t.contiguous().toArray(Float.self)
            if let bad = values.firstIndex(where: { !$0.isFinite }) { throw ServeError.badRequest("body", "element \(bad) is not a finite number") }
            return (values, count)
        default:
            throw ServeError(415, "Content-Type \(jsonQuotedString(type)) is not accepted; use text/csv, application/json or application/x-npy")
        }
    }

    /// CSV rows of numbers; a header row (any non-numeric field) picks the training features by name when it has
    /// them all.
    static func csv(_ text: String, model: ServedModel) throws -> (values: [Float], count: Int) {
        var lines = text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
            .map { $0.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) } }
        let want = model.featureCount
        var pick: [Int]? = nil
        if let first = lines.first, first.contains(where: { CSVTable.number($0) == nil }) {
            let names = model.saved.input.featureNames
            let header = first.map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
            if !names.isEmpty, names.allSatisfy(header.contains) {
                pick = names.map { header.firstIndex(of: $0)! }
            } else if header.count == want {
                pick = Array(0..<want)
            } else {
                throw ServeError.badRequest("body, line 1", "a header of \(header.count) columns, but the model takes \(want) features"
                                            + (names.isEmpty ? "" : " named \(names.prefix(6).joined(separator: ", "))\(names.count > 6 ? ", ..." : "")"))
            }
            lines.removeFirst()
        }
        guard !lines.isEmpty else { throw ServeError.badRequest("body", "no CSV rows") }
        var values: [Float] = []
        values.reserveCapacity(lines.count * want)
        let lineOffset = pick == nil ? 1 : 2
        for (i, fields) in lines.enumerated() {
            let row = pick.map { p in p.map { $0 < fields.count ? fields[$0] : "" } } ?? fields
            guard pick != nil || fields.count == want else {
                throw ServeError.badRequest("body, line \(i + lineOffset)", "\(fields.count) values, but the model takes \(want) features")
            }
            for (j, f) in row.enumerated() {
                guard let v = CSVTable.number(f), v.isFinite, Float(v).isFinite else {
                    throw ServeError.badRequest("body, line \(i + lineOffset), column \(j + 1)", "expected a number, got \(jsonQuotedString(f))")
                }
                values.append(Float(v))
            }
        }
        return (values, lines.count)
    }

    /// `{"instances": [...]}`, `{"inputs": [...]}` or an array of examples (or one flat example).
    static func json(_ value: JSONValue, model: ServedModel) throws -> (values: [Float], count: Int) {
        var field = "body"
        var list: JSONValue = value
        if case .object(let kv) = value {
            guard let (k, v) = kv.first(where: { $0.0 == "instances" || $0.0 == "inputs" }) else {
                throw ServeError.badRequest("body", "expected {\"instances\": [...]}, {\"inputs\": [...]} or an array of examples")
            }
            field = k
            list = v
        }
        guard case .array(let items) = list else { throw ServeError.badRequest(field, "expected an array of examples") }
        let want = model.featureCount
        let examples: [JSONValue]
        if items.count == want, items.allSatisfy({ $0.number != nil }) { examples = [list] } else { examples = items }
        guard !examples.isEmpty else { throw ServeError.badRequest(field, "no examples") }
        var values: [Float] = []
        values.reserveCapacity(examples.count * want)
        for (i, e) in examples.enumerated() {
            let before = values.count
            try InferenceProtocol.flatten(e, into: &values, dtype: .fp64, field: "\(field)[\(i)]", limit: before + want)
            guard values.count - before == want else {
                throw ServeError.badRequest("\(field)[\(i)]", "\(values.count - before > want ? "more than \(want)" : "\(values.count - before)") values, "
                                            + "but the model takes \(want) (\(model.rawShape))")
            }
        }
        return (values, examples.count)
    }

    /// The `/invocations` answer: JSON (`{"predictions": [...]}`) or CSV when `accept` asks for `text/csv`.
    public static func encode(_ predictions: [Prediction], model: ServedModel, accept: String?) -> (body: String, contentType: String) {
        if let accept, accept.lowercased().contains("text/csv") {
            let lines = predictions.map { p in
                p.label != nil ? "\(csvField(p.className ?? "")),\(p.probabilities[p.label!])" : p.values.map { "\($0)" }.joined(separator: ",")
            }
            return (lines.joined(separator: "\n") + "\n", "text/csv")
        }
        let json = JSONValue.object([("predictions", .array(predictions.map { PredictRunner.json($0, saved: model.saved) }))])
        return (json.rendered(pretty: false), "application/json")
    }

    private static func csvField(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}
