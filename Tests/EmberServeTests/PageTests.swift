import Foundation
import Testing
import EmberTestSupport
import EmberCLI
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
}
