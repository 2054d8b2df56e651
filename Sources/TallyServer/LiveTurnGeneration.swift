import BackgroundTraining
import Dispatch
import Foundation
import HTTP
import JSON
import Labeling

/// The two answers of a live conversation's turn while they are written: each piece of text goes
/// to the labeler's event stream as it comes (`answer` events naming the side), and when both
/// answers are whole, `finished` hears their texts and timings, once. The first failure of
/// either side ends both.
///
/// Two samples of one version are decoded together as one request of two choices, so both sides
/// stream at once; two versions are two requests, answered one after the other.
final class LiveTurnGeneration: @unchecked Sendable {
    enum Side: Int, CaseIterable {
        case a = 0, b = 1
        var name: String { self == .a ? "a" : "b" }
    }

    struct Answers: Sendable {
        let texts: [String]
        let firstTextMilliseconds: [Double]
        let answerMilliseconds: [Double]
    }

    let stream: EventStream
    private let started = DispatchTime.now().uptimeNanoseconds
    private let lock = NSLock()
    private var texts = ["", ""]
    private var firstText: [Double?] = [nil, nil]
    private var answered: [Double?] = [nil, nil]
    private var ended = false
    private let finished: @Sendable (Result<Answers, ChatGenerationError>) -> Void

    init(stream: EventStream, finished: @escaping @Sendable (Result<Answers, ChatGenerationError>) -> Void) {
        (self.stream, self.finished) = (stream, finished)
    }

    /// Whether generation should stop: the labeler went away, or the other side failed.
    var isCancelled: Bool { stream.isCancelled || lock.withLock { ended } }

    private var elapsedMilliseconds: Double { Double(DispatchTime.now().uptimeNanoseconds &- started) / 1e6 }

    /// Queues the turn's generation: `request` as one request of two choices when both sides
    /// are `versionA`, else as one request per side. `begin` is told once the answer may start
    /// (a generation began) or of a failure: it may hear several, and the first one counts.
    func submit(_ request: ChatRequest, versionA: ModelVersion, versionB: ModelVersion, to generator: ChatGenerator,
                begin: @escaping @Sendable (Result<Void, ChatGenerationError>) -> Void) throws {
        if versionA.id == versionB.id {
            var pair = request
            pair.choices = 2
            try generator.submit(pair, from: versionA, isCancelled: { [self] in isCancelled }) { [self] event in
                handle(event, sides: [.a, .b], begin: begin)
            }
            return
        }
        try generator.submit(request, from: versionA, isCancelled: { [self] in isCancelled }) { [self] event in handle(event, sides: [.a], begin: begin) }
        do {
            try generator.submit(request, from: versionB, isCancelled: { [self] in isCancelled }) { [self] event in handle(event, sides: [.b], begin: begin) }
        } catch {
            // A's request is queued already: stop it before it runs.
            lock.withLock { ended = true }
            throw error
        }
    }

    /// One generation's event; `sides[choice]` is the side its choice answers for.
    private func handle(_ event: Result<ChatEvent, ChatGenerationError>, sides: [Side], begin: @Sendable (Result<Void, ChatGenerationError>) -> Void) {
        switch event {
        case .success(.started):
            begin(.success(()))
        case .success(.text(let choice, let text, _)):
            let side = sides[choice]
            let hasEnded: Bool = lock.withLock {
                texts[side.rawValue] += text
                if firstText[side.rawValue] == nil, !text.isEmpty { firstText[side.rawValue] = elapsedMilliseconds }
                return ended
            }
            guard !hasEnded, !text.isEmpty else { return }
            stream.send(event: "answer", data: JSONWriter.string(.object([("side", .string(side.name)), ("text", .string(text))])))
        case .success(.finished(_, let choices)):
            let result: Answers? = lock.withLock {
                guard !ended else { return nil }
                let now = elapsedMilliseconds
                for (choice, answer) in choices.enumerated() {
                    let side = sides[choice].rawValue
                    texts[side] = answer.text
                    answered[side] = now
                    if firstText[side] == nil { firstText[side] = now }
                }
                guard let a = answered[0], let b = answered[1] else { return nil }
                ended = true
                return Answers(texts: texts, firstTextMilliseconds: [firstText[0] ?? a, firstText[1] ?? b], answerMilliseconds: [a, b])
            }
            if let result { finished(.success(result)) }
        case .failure(let error):
            begin(.failure(error))
            let first = lock.withLock {
                defer { ended = true }
                return !ended
            }
            if first { finished(.failure(error)) }
        }
    }
}
