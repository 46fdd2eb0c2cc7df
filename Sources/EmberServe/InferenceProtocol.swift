import EmberCLI
import Foundation

/// The Open Inference Protocol (KServe v2) over REST: decoding an inference request (JSON tensors, or the binary
/// tensor data extension with `Inference-Header-Content-Length`) and encoding its response.
///
/// Errors are ``ServeError`` 400s naming the field (`inputs[0].datatype`, `outputs[1].name`).
public enum InferenceProtocol {
    /// One requested output: its name and whether its data goes in binary after the JSON header.
    public struct RequestedOutput: Sendable, Equatable {
        /// The output's name (`probabilities`, `label`, `class`, `values`).
        public var name: String
        /// Whether its data follows the JSON header as binary (the binary tensor data extension).
        public var binary: Bool
    }

    /// A decoded inference request: the raw examples, their count, and what to send back.
    public struct Request: Sendable {
        /// The request id, echoed in the response.
        public var id: String?
        /// `count * featureCount` raw values, example after example.
        public var values: [Float]
        /// Number of examples.
        public var count: Int
        /// The outputs to return, in order.
        public var outputs: [RequestedOutput]
    }

    /// Decodes a request body for `model`. `headerLength` is the `Inference-Header-Content-Length` header's value
    /// (the JSON header's size when binary tensor data follows it), nil for a JSON-only body.
    public static func decode(_ body: [UInt8], headerLength: Int?, model: ServedModel) throws -> Request {
        let jsonEnd: Int
        if let headerLength {
            guard headerLength >= 0, headerLength <= body.count else {
                throw ServeError.badRequest("Inference-Header-Content-Length", "\(headerLength) is not within the body's \(body.count) bytes")
            }
            jsonEnd = headerLength
        } else {
            jsonEnd = body.count
        }
        let header: JSONValue
        do {
            header = try body.withUnsafeBytes { try FastJSON.parse(UnsafeRawBufferPointer(rebasing: $0[0..<jsonEnd])) }
        } catch {
            throw ServeError.badRequest("", "the request body is not valid JSON\(headerLength != nil ? " (its first \(jsonEnd) bytes, per Inference-Header-Content-Length)" : "")")
        }
        guard case .object = header else { throw ServeError.badRequest("", "expected a JSON object with \"inputs\", got \(kind(header))") }
        var id: String? = nil
        if let v = header["id"] {
            guard case .string(let s) = v else { throw ServeError.badRequest("id", "expected a string, got \(kind(v))") }
            id = s
        }
        guard let inputsValue = header["inputs"] else { throw ServeError.badRequest("inputs", "missing (expected an array of input tensors)") }
        guard case .array(let inputs) = inputsValue else { throw ServeError.badRequest("inputs", "expected an array, got \(kind(inputsValue))") }
        guard inputs.count == 1 else {
            throw ServeError.badRequest("inputs", "this model takes exactly one input tensor (\(jsonQuotedString(ServedModel.inputName))), got \(inputs.count)")
        }
        let field = "inputs[0]"
        let input = inputs[0]
        guard case .object = input else { throw ServeError.badRequest(field, "expected an object, got \(kind(input))") }
        guard case .string(let name)? = input["name"] else { throw ServeError.badRequest("\(field).name", "missing or not a string") }
        guard name == ServedModel.inputName else {
            throw ServeError.badRequest("\(field).name", "this model's input is \(jsonQuotedString(ServedModel.inputName)), got \(jsonQuotedString(name))")
        }
        guard case .string(let dtName)? = input["datatype"] else { throw ServeError.badRequest("\(field).datatype", "missing or not a string") }
        guard let dtype = TensorDatatype(rawValue: dtName), TensorDatatype.numeric.contains(dtype) else {
            throw ServeError.badRequest("\(field).datatype", "\(jsonQuotedString(dtName)) is not accepted; use one of "
                                        + TensorDatatype.numeric.map(\.rawValue).joined(separator: ", ")
                                        + " (this model's input is \(model.inputDatatype.rawValue))")
        }
        guard case .array(let shapeValues)? = input["shape"] else { throw ServeError.badRequest("\(field).shape", "missing or not an array") }
        var shape: [Int] = []
        for (i, v) in shapeValues.enumerated() {
            guard let d = v.number, d == d.rounded(), d >= 0, d <= 1e9 else {
                throw ServeError.badRequest("\(field).shape[\(i)]", "expected a whole number of at least 0, got \(v.rendered(pretty: false))")
            }
            shape.append(Int(d))
        }
        let count = try model.exampleCount(shape: shape, field: "\(field).shape")
        let total = count.multipliedReportingOverflow(by: model.featureCount)
        guard !total.overflow, total.partialValue <= 1 << 28 else { throw ServeError.badRequest("\(field).shape", "\(shape) holds too many values") }
        let elements = total.partialValue

        var values: [Float]
        var binarySize: Int? = nil
        if case .object? = input["parameters"], let size = input["parameters"]?["binary_data_size"] {
            guard let s = size.number, s == s.rounded(), s >= 0 else {
                throw ServeError.badRequest("\(field).parameters.binary_data_size", "expected a whole number of bytes, got \(size.rendered(pretty: false))")
            }
            binarySize = Int(s)
        }
        if let binarySize {
            guard headerLength != nil else {
                throw ServeError.badRequest("\(field).parameters.binary_data_size", "binary data needs the Inference-Header-Content-Length header")
            }
            let available = body.count - jsonEnd
            guard binarySize == available else {
                throw ServeError.badRequest("\(field).parameters.binary_data_size", "\(binarySize) bytes announced, but \(available) follow the JSON header")
            }
            let want = elements * dtype.elementSize!
            guard binarySize == want else {
                throw ServeError.badRequest("\(field).parameters.binary_data_size", "shape \(shape) of \(dtype.rawValue) is \(want) bytes, got \(binarySize)")
            }
            values = try body.withUnsafeBytes { raw in
                try dtype.floats(UnsafeRawBufferPointer(rebasing: raw[jsonEnd..<(jsonEnd + binarySize)]), count: elements, field: "\(field).data")
            }
        } else {
            guard let data = input["data"] else { throw ServeError.badRequest("\(field).data", "missing (and no parameters.binary_data_size)") }
            values = []
            values.reserveCapacity(elements)
            try flatten(data, into: &values, dtype: dtype, field: "\(field).data", limit: elements)
            guard values.count == elements else {
                throw ServeError.badRequest("\(field).data", "shape \(shape) holds \(elements) values, got \(values.count)")
            }
            if headerLength != nil, jsonEnd != body.count {
                throw ServeError.badRequest("Inference-Header-Content-Length", "\(body.count - jsonEnd) bytes follow the JSON header, but no input is binary")
            }
        }

        // Requested outputs: all of the model's by default; binary when asked for (per output or for all).
        var binaryDefault = false
        if let p = header["parameters"] {
            guard case .object = p else { throw ServeError.badRequest("parameters", "expected an object, got \(kind(p))") }
            if let b = p["binary_data_output"] {
                guard case .bool(let v) = b else { throw ServeError.badRequest("parameters.binary_data_output", "expected true or false") }
                binaryDefault = v
            }
        }
        let known = model.outputs.map(\.name)
        var outputs: [RequestedOutput] = []
        if let o = header["outputs"] {
            guard case .array(let list) = o else { throw ServeError.badRequest("outputs", "expected an array, got \(kind(o))") }
            for (i, item) in list.enumerated() {
                guard case .string(let n)? = item["name"] else { throw ServeError.badRequest("outputs[\(i)].name", "missing or not a string") }
                guard known.contains(n) else {
                    throw ServeError.badRequest("outputs[\(i)].name", "this model has no output \(jsonQuotedString(n)) (it has \(known.map(jsonQuotedString).joined(separator: ", ")))")
                }
                var binary = binaryDefault
                if let b = item["parameters"]?["binary_data"] {
                    guard case .bool(let v) = b else { throw ServeError.badRequest("outputs[\(i)].parameters.binary_data", "expected true or false") }
                    binary = v
                }
                outputs.append(RequestedOutput(name: n, binary: binary))
            }
        }
        if outputs.isEmpty { outputs = known.map { RequestedOutput(name: $0, binary: binaryDefault) } }
        return Request(id: id, values: values, count: count, outputs: outputs)
    }

    /// Collects the numbers of `data` (flat or nested arrays, or one number) as floats, checking them against
    /// `dtype` (whole numbers in range for integer types).
    static func flatten(_ data: JSONValue, into out: inout [Float], dtype: TensorDatatype, field: String, limit: Int) throws {
        switch data {
        case .number(let v):
            guard out.count < limit else { return out.append(0) }  // too many: counted, reported by the caller
            if let range = dtype.integerRange {
                guard v == v.rounded(), range.contains(v) else {
                    throw ServeError.badRequest(field, "element \(out.count) is \(JSONValue.number(v).rendered(pretty: false)), not a \(dtype.rawValue) "
                                                + "(whole numbers \(JSONValue.number(range.lowerBound).rendered())...\(JSONValue.number(range.upperBound).rendered()))")
                }
            }
            let f = Float(v)
            guard f.isFinite else { throw ServeError.badRequest(field, "element \(out.count) is out of the FP32 range") }
            out.append(f)
        case .array(let items):
            for item in items {
                try flatten(item, into: &out, dtype: dtype, field: field, limit: limit)
                if out.count > limit { return }
            }
        default:
            throw ServeError.badRequest(field, "element \(out.count) is \(kind(data)), expected a number (\(dtype.rawValue))")
        }
    }

    /// "a string", "an object", ... for messages.
    static func kind(_ v: JSONValue) -> String {
        switch v {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// An encoded response: the body and, when binary outputs follow the JSON, the JSON header's length.
    public struct Response: Sendable {
        /// The JSON header, then any binary output data.
        public var body: [UInt8]
        /// The JSON header's length (`Inference-Header-Content-Length`), nil for a JSON-only body.
        public var headerLength: Int?
    }

    /// The response to `request` from `model`'s predictions. The JSON is written straight to bytes (the same text
    /// as rendering a ``JSONValue``, with FP32 data written as the shortest decimal that reads back as the same
    /// 32-bit float); this runs once per request, so it avoids building a tree of values first.
    public static func encode(_ predictions: [Prediction], request: Request, model: ServedModel) -> Response {
        let n = predictions.count
        var json = JSONBytes()
        var binary: [UInt8] = []
        json.raw("{\"model_name\":")
        json.string(model.name)
        json.raw(",\"model_version\":\"1\"")
        if let id = request.id {
            json.raw(",\"id\":")
            json.string(id)
        }
        json.raw(",\"outputs\":[")
        for (o, out) in request.outputs.enumerated() {
            let spec = model.outputs.first { $0.name == out.name }!
            if o > 0 { json.raw(",") }
            json.raw("{\"name\":")
            json.string(out.name)
            json.raw(",\"datatype\":")
            json.string(spec.datatype.rawValue)
            json.raw(",\"shape\":[")
            let k: Int
            switch out.name {
            case "probabilities": k = model.classes.count
            case "values": k = predictions.first?.values.count ?? spec.shape.last ?? 1
            default: k = 0
            }
            json.int(n)
            if k > 0 || out.name == "probabilities" || out.name == "values" { json.raw(","); json.int(k) }
            json.raw("]")
            if out.binary {
                let start = binary.count
                switch out.name {
                case "probabilities":
                    for p in predictions { for v in p.probabilities { withUnsafeBytes(of: Float(v).bitPattern.littleEndian) { binary.append(contentsOf: $0) } } }
                case "values":
                    for p in predictions { for v in p.values { withUnsafeBytes(of: Float(v).bitPattern.littleEndian) { binary.append(contentsOf: $0) } } }
                case "label":
                    for p in predictions { withUnsafeBytes(of: Int64(p.label ?? 0).littleEndian) { binary.append(contentsOf: $0) } }
                default:  // BYTES: each element is a 4-byte little-endian length and the UTF-8 bytes
                    for p in predictions {
                        let u = Array((p.className ?? "").utf8)
                        withUnsafeBytes(of: UInt32(u.count).littleEndian) { binary.append(contentsOf: $0) }
                        binary.append(contentsOf: u)
                    }
                }
                json.raw(",\"parameters\":{\"binary_data_size\":")
                json.int(binary.count - start)
                json.raw("}}")
            } else {
                json.raw(",\"data\":[")
                var first = true
                func sep() { if first { first = false } else { json.raw(",") } }
                switch out.name {
                case "probabilities": for p in predictions { for v in p.probabilities { sep(); json.float(Float(v)) } }
                case "values": for p in predictions { for v in p.values { sep(); json.float(Float(v)) } }
                case "label": for p in predictions { sep(); json.int(p.label ?? 0) }
                default: for p in predictions { sep(); json.string(p.className ?? "") }
                }
                json.raw("]}")
            }
        }
        json.raw("]}")
        if binary.isEmpty && !request.outputs.contains(where: \.binary) { return Response(body: json.bytes, headerLength: nil) }
        return Response(body: json.bytes + binary, headerLength: json.bytes.count)
    }

    /// `GET /v2/models/{name}`: name, versions, platform, and the input and outputs with datatypes and shapes.
    public static func metadata(_ model: ServedModel) -> JSONValue {
        func tensor(_ name: String, _ dt: TensorDatatype, _ shape: [Int]) -> JSONValue {
            .object([("name", .string(name)), ("datatype", .string(dt.rawValue)), ("shape", .array(shape.map { .number(Double($0)) }))])
        }
        return .object([
            ("name", .string(model.name)), ("versions", .array([.string("1")])), ("platform", .string("ember")),
            ("inputs", .array([tensor(ServedModel.inputName, model.inputDatatype, [-1] + model.rawShape)])),
            ("outputs", .array(model.outputs.map { tensor($0.name, $0.datatype, $0.shape) })),
            ("parameters", .object([
                ("task", .string(model.saved.task == .classification ? "classification" : "regression")),
                ("classes", .array(model.saved.classes.map { .string($0) })),
                ("feature_names", .array(model.saved.input.featureNames.map { .string($0) })),
                ("accepted_input_shapes", .array(model.acceptedExampleShapes.map { .array(([-1] + $0).map { .number(Double($0)) }) })),
                ("loaded_at", .string(ISO8601DateFormatter().string(from: model.loadedAt))),
            ])),
        ])
    }
}
