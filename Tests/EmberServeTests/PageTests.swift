import Foundation
import Testing
import EmberTestSupport
import EmberCLI
import EmberMetrics
import EmberData
import Hummingbird
@testable import EmberServe


/// The page at `/` in headless Chromium: it loads, lists the models, and a sample input typed in through the URL
/// gives the same class and probabilities as `ember predict`.
@Suite(.serialized) struct PageTests {
    /// The DOM after the page ran (and its fetch to the server answered).
    func dom(_ url: String) throws -> String {
        let chromium = try required(chromiumPath, "Chromium not found: install Debian's `chromium` package (or set $CHROMIUM)")
        let profile = serveTemp("chromium")
        defer { try? FileManager.default.removeItem(at: profile) }
        let run = try runTool(chromium, ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--user-data-dir=\(profile.path)",
                                         "--virtual-time-budget=10000", "--dump-dom", url], timeout: 180)
        #expect(run.status == 0, "chromium exited with \(run.status): \(run.stderr.suffix(2000))")
        return run.stdout
    }

    func attribute(_ name: String, _ html: String) -> String? {
        guard let start = html.range(of: "id=\"result\"") else { return nil }
        let tagStart = html[..<start.lowerBound].lastIndex(of: "<")!
        let tag = html[tagStart..<html[start.upperBound...].firstIndex(of: ">")!]
        guard let a = tag.range(of: " \(name)=\"") else { return nil }
        return String(tag[a.upperBound...].prefix { $0 != "\"" })
    }

    @Test(needs(chromiumPath != nil, "Chromium not found: install Debian's `chromium` package (or set $CHROMIUM) to run the page test"))
    func pagePredictsAsEmberPredictDoes() async throws {
        let runs = Runs.shared
        let s = try await LiveServer([runs.mlp, runs.cnn, runs.bytes])
        defer { Task { await s.stop() } }
        let page = try await http("GET", s.base + "/")
        #expect(page.status == 200 && page.header("Content-Type")?.hasPrefix("text/html") == true)
        #expect(!page.text.contains("http://") && !page.text.contains("https://"), "the page loads nothing from the network")

        let n = 3
        let expected = try emberPredict(runs.cnn, try runs.digitsCSV(n))
        let base = s.base
        for i in 0..<n {
            let input = runs.digits[(i * 64)..<((i + 1) * 64)].map { String(Int($0)) }.joined(separator: ",")
            let html = try await blocking { try self.dom(base + "/?model=digits-cnn&input=" + input) }
            #expect(html.contains("digits-mlp") && html.contains("digits-cnn") && html.contains("bytes"), "the tabs list every model")
            #expect(html.contains("id=\"draw\""), "an 8x8 digits model gets a drawing canvas")
            #expect(attribute("data-status", html) == "done", "\(html.suffix(1500))")
            #expect(attribute("data-class", html) == expected[i].className)
            let probs = (attribute("data-probabilities", html) ?? "").split(separator: ",").compactMap { Double($0) }
            #expect(probs.count == 10)
            for (a, b) in zip(probs, expected[i].probabilities) { #expect(abs(a - b) < 1e-6) }
            #expect(html.components(separatedBy: "class=\"bar").count - 1 == 10, "one bar per class")
        }
        // A wrong input shows the server's message, not a crash.
        let bad = try await blocking { try self.dom(base + "/?model=digits-mlp&input=1,2,3") }
        #expect(attribute("data-status", bad) == "error")
        #expect(bad.contains("expected 64 numbers, got 3"))
    }

    /// A harness page that loads the served page in an iframe and works it as a person would: pointer events on the
    /// drawing canvas (down, moves, up), and a PNG put into the file input with a `change` event. The harness is
    /// served over HTTP by a second, throwaway server (another origin); Chromium runs with web security and site
    /// isolation off (a fresh profile, loopback only), so the harness may reach into the iframe. After each
    /// action it waits for the page's answer and writes what it saw (the raw values the page derived from the
    /// drawing or the image, and `#result`'s attributes) into `#out` as JSON, which `--dump-dom` returns.
    func harness(base: String, drawModel: String, uploads: [(model: String, png: [UInt8], invert: Bool)]) async throws -> String {
        let chromium = try required(chromiumPath, "Chromium not found: install Debian's `chromium` package (or set $CHROMIUM)")
        let dir = serveTemp("harness")
        defer { try? FileManager.default.removeItem(at: dir) }
        let steps = [#"{"kind":"draw","model":"\#(drawModel)"}"#] + uploads.map {
            #"{"kind":"upload","model":"\#($0.model)","invert":\#($0.invert),"png":"\#(Data($0.png).base64EncodedString())"}"#
        }
        let html = """
            <!DOCTYPE html><html><body><iframe id="f" width="1000" height="900"></iframe><pre id="out">pending</pre><script>
            const steps = [\(steps.joined(separator: ","))], results = [];
            const frame = document.getElementById("f");
            function load(model) { return new Promise(ok => { frame.onload = ok; frame.src = "\(base)/?model=" + model; }); }
            function answered(doc) {
              return new Promise(ok => { const t = setInterval(() => {
                const s = doc.getElementById("result").dataset.status;
                if (s === "done" || s === "error") { clearInterval(t); ok(); } }, 20); });
            }
            function report(doc, step) {
              const r = doc.getElementById("result").dataset;
              results.push({ kind: step.kind, model: step.model, status: r.status, cls: r["class"] || "", probabilities: r.probabilities || "",
                             values: doc.getElementById("csv").value, error: doc.getElementById("error").textContent });
            }
            async function run() {
              for (const step of steps) {
                await load(step.model);
                const win = frame.contentWindow, doc = frame.contentDocument;
                if (step.kind === "draw") {
                  // A "1": one vertical stroke down the middle of the 280x280 canvas, in screen coordinates.
                  const c = doc.getElementById("draw"), box = c.getBoundingClientRect();
                  const at = (x, y, type) => c.dispatchEvent(new win.PointerEvent(type, { bubbles: true, pointerId: 1, isPrimary: true, buttons: type === "pointerup" ? 0 : 1,
                    clientX: box.left + x * box.width / 280, clientY: box.top + y * box.height / 280 }));
                  at(140, 30, "pointerdown");
                  for (let y = 40; y <= 250; y += 10) at(140, y, "pointermove");
                  at(140, 250, "pointerup");
                } else {
                  const bytes = Uint8Array.from(atob(step.png), ch => ch.charCodeAt(0));
                  const input = doc.getElementById("file"), dt = new win.DataTransfer();
                  dt.items.add(new win.File([bytes], "digit.png", { type: "image/png" }));
                  input.files = dt.files;
                  doc.getElementById("invert").checked = step.invert;
                  input.dispatchEvent(new win.Event("change", { bubbles: true }));
                }
                await answered(doc);
                report(doc, step);
              }
              document.getElementById("out").textContent = JSON.stringify(results);
            }
            run().catch(e => { document.getElementById("out").textContent = "harness error: " + e; });
            </script></body></html>
            """
        let router = Router()
        router.get("/harness.html") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: html)))
        }
        let (stream, cont) = AsyncStream<Int>.makeStream()
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { cont.yield($0.localAddress?.port ?? 0); cont.finish() })
        let serving = Task { try await app.runService() }
        defer { serving.cancel() }
        var ports = stream.makeAsyncIterator()
        let port = await ports.next() ?? 0
        let profile = dir.appendingPathComponent("profile").path
        let run = try await blocking { try runTool(chromium, ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--user-data-dir=\(profile)",
                                         "--disable-web-security", "--disable-site-isolation-trials", "--disable-features=IsolateOrigins,site-per-process",
                                         "--virtual-time-budget=30000", "--dump-dom", "http://127.0.0.1:\(port)/harness.html"],
                              timeout: 240) }
        #expect(run.status == 0, "chromium exited with \(run.status): \(run.stderr.suffix(2000))")
        guard let a = run.stdout.range(of: "<pre id=\"out\">"), let b = run.stdout.range(of: "</pre>", range: a.upperBound..<run.stdout.endIndex) else {
            Issue.record("no harness output: \(run.stdout.suffix(2000))")
            return ""
        }
        return String(run.stdout[a.upperBound..<b.lowerBound]).replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&amp;", with: "&")
    }

    /// `ember predict` on one raw example written as a one-row CSV.
    func predictRow(_ run: String, _ values: [Double], columns: Int) throws -> Prediction {
        let u = serveTemp("row").appendingPathComponent("row.csv")
        let header = (0..<columns).map { "pixel_\($0 / 8)_\($0 % 8)" }.joined(separator: ",")
        try (header + "\n" + values.map { String(Int($0)) }.joined(separator: ",") + "\n").write(to: u, atomically: true, encoding: .utf8)
        return try #require(try emberPredict(run, u.path).first)
    }

    @Test(needs(chromiumPath != nil, "Chromium not found: install Debian's `chromium` package (or set $CHROMIUM) to run the page test"))
    func drawingAndImageUploadPredictAsEmberPredictDoes() async throws {
        let runs = Runs.shared
        let s = try await LiveServer([runs.mlp, runs.cnn, runs.bytes])
        defer { Task { await s.stop() } }
        // Digits example 0 as an 8x8 gray PNG (0...16 spread over 0...255, so the page's rounding gives the values
        // back), once as it is and once inverted (dark ink on light paper, with the page's "invert" box ticked).
        let digit = Array(runs.digits.prefix(64))
        let gray = digit.map { UInt8(($0 * 255 / 16).rounded()) }
        func encode(_ pixels: [UInt8]) throws -> [UInt8] { try RasterImage(width: 8, height: 8, channels: 1, pixels: pixels).pngData() }
        let png = try encode(gray)
        let inverted = try encode(gray.map { 255 - $0 })
        // Byte-image model: test image 3 as it is (UINT8 values 0...255).
        let img = Array(runs.images[(3 * 64)..<(4 * 64)])
        let bytesPNG = try encode(img)
        let base = s.base
        let text = try await harness(base: base, drawModel: "digits-cnn", uploads: [("digits-cnn", png, false), ("digits-cnn", inverted, true), ("bytes", bytesPNG, false)])
        let results = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [[String: Any]] ?? []
        try #require(results.count == 4, "harness said: \(text.prefix(3000))")
        func values(_ r: [String: Any]) -> [Double] { (r["values"] as? String ?? "").split(separator: ",").compactMap { Double($0) } }
        func probabilities(_ r: [String: Any]) -> [Double] { (r["probabilities"] as? String ?? "").split(separator: ",").compactMap { Double($0) } }
        for r in results { #expect(r["status"] as? String == "done", "\(r)") }

        // Drawing: the page turned a vertical stroke into 8x8 values: ink down the middle columns, none at the
        // left and right edges; and its answer is what `ember predict` says for those values.
        let drawn = values(results[0])
        try #require(drawn.count == 64, "\(results[0])")
        #expect(drawn.allSatisfy { $0 >= 0 && $0 <= 16 && $0 == $0.rounded() })
        // The 30-pixel stroke at x = 140 covers 15 of the 35 pixels of columns 3 and 4 each: 2 x 16 x 15/35 = 13.7.
        for y in 1..<7 {
            let ink = drawn[y * 8 + 3] + drawn[y * 8 + 4]
            #expect(ink >= 12 && ink <= 16 && drawn[y * 8 + 3] > 0 && drawn[y * 8 + 4] > 0, "row \(y) has the stroke's ink in the middle: \(drawn)")
        }
        for y in 0..<8 { #expect(drawn[y * 8] == 0 && drawn[y * 8 + 7] == 0, "row \(y) edges are blank: \(drawn)") }
        let drawnExpected = try predictRow(runs.cnn, drawn, columns: 64)
        #expect(results[0]["cls"] as? String == drawnExpected.className)
        for (a, b) in zip(probabilities(results[0]), drawnExpected.probabilities) { #expect(abs(a - b) < 1e-6) }

        // Upload: the page decoded the PNG back to the digit's own values, and answers as `ember predict` does
        // on that row (also when inverted back from dark-on-light).
        let expected = try #require(try emberPredict(runs.cnn, try runs.digitsCSV(1)).first)
        for r in results[1...2] {
            #expect(values(r) == digit.map(Double.init), "\(r)")
            #expect(r["cls"] as? String == expected.className)
            let p = probabilities(r)
            #expect(p.count == 10)
            for (a, b) in zip(p, expected.probabilities) { #expect(abs(a - b) < 1e-6) }
        }
        // Byte images: the page sends the PNG's bytes as they are; `ember predict` on the IDX file agrees.
        #expect(values(results[3]) == img.map(Double.init), "\(results[3])")
        let idx = runs.root.appendingPathComponent("te-images-idx3-ubyte").path
        let bytesExpected = try emberPredict(runs.bytes, idx)[3]
        #expect(results[3]["cls"] as? String == bytesExpected.className)
        for (a, b) in zip(probabilities(results[3]), bytesExpected.probabilities) { #expect(abs(a - b) < 1e-6) }
    }
}
