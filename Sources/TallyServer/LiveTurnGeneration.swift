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
/// Two samples of one version are decoded together as one request of two choices, and two
/// versions at once on half the kernel threads each, so both sides stream together. An
/// endpoint's answers stream beside Tally's own (it runs elsewhere).
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

    /// What answers one side: one of Tally's versions, or a registered endpoint.
    enum Source {
        case version(ModelVersion)
        case endpoint(EndpointChat)

        /// The same answerer on both sides: two samples of it, asked together.
        func isSame(as other: Source) -> Bool {
            switch (self, other) {
            case (.version(let a), .version(let b)): a.id == b.id
            case (.endpoint(let a), .endpoint(let b)): a.endpoint.id == b.endpoint.id
            default: false
            }
        }
    }

    /// Queues the turn's generation: `request` as one request of two choices when both sides
    /// are the same answerer, else as one request per side (two versions' together). Tally's
    /// own versions are queued first (the generator may refuse at once, when its queue is
    /// full), then endpoints are asked. `begin` is told once the answer may start (a generation began, or an endpoint was
    /// asked) or of a failure: it may hear several, and the first one counts.
    func submit(_ request: ChatRequest, a: Source, b: Source, to generator: ChatGenerator,
                begin: @escaping @Sendable (Result<Void, ChatGenerationError>) -> Void) throws {
        let groups: [(source: Source, sides: [Side])] = a.isSame(as: b) ? [(a, [.a, .b])] : [(a, [.a]), (b, [.b])]
        let generations = groups.compactMap { source, sides -> ChatGenerator.Generation? in
            guard case .version(let version) = source else { return nil }
            var asked = request
            asked.choices = sides.count
            return ChatGenerator.Generation(asked, from: version) { [self] event in handle(event, sides: sides, begin: begin) }
        }
        // Two versions: both answers grow at once, each on half the kernel threads.
        if generations.count == 2 {
            try generator.submitTogether(generations[0], generations[1], isCancelled: { [self] in isCancelled })
        } else if let generation = generations.first {
            try generator.submit(generation.request, from: generation.version, isCancelled: { [self] in isCancelled }, events: generation.events)
        }
        for (source, sides) in groups {
            guard case .endpoint(let chat) = source else { continue }
            var request = request
            request.choices = sides.count
            let asked = request
            begin(.success(()))
            DispatchQueue.global().async { [self] in
                let result = chat.answers(asked) { [self] choice, piece in grow(sides[choice], by: piece) }
                switch result {
                case .success(let texts): finish(zip(sides, texts).map { ($0, $1) })
                case .failure(let error): handle(.failure(error), sides: sides, begin: begin)
                }
            }
        }
    }

    /// A piece of `side`'s answer as it arrives: kept, and sent to the labeler.
    private func grow(_ side: Side, by text: String) {
        let hasEnded: Bool = lock.withLock {
            texts[side.rawValue] += text
            if firstText[side.rawValue] == nil, !text.isEmpty { firstText[side.rawValue] = elapsedMilliseconds }
            return ended
        }
        guard !hasEnded, !text.isEmpty else { return }
        stream.send(event: "answer", data: JSONWriter.string(.object([("side", .string(side.name)), ("text", .string(text))])))
    }

    /// Records finished answers; once both sides are, `finished` hears them, once.
    private func finish(_ answers: [(side: Side, text: String)]) {
        let result: Answers? = lock.withLock {
            guard !ended else { return nil }
            let now = elapsedMilliseconds
            for (side, text) in answers {
                texts[side.rawValue] = text
                answered[side.rawValue] = now
                if firstText[side.rawValue] == nil { firstText[side.rawValue] = now }
            }
            guard let a = answered[0], let b = answered[1] else { return nil }
            ended = true
            return Answers(texts: texts, firstTextMilliseconds: [firstText[0] ?? a, firstText[1] ?? b], answerMilliseconds: [a, b])
        }
        if let result { finished(.success(result)) }
    }

    /// One generation's event; `sides[choice]` is the side its choice answers for.
    private func handle(_ event: Result<ChatEvent, ChatGenerationError>, sides: [Side], begin: @Sendable (Result<Void, ChatGenerationError>) -> Void) {
        switch event {
        case .success(.started):
            begin(.success(()))
        case .success(.text(let choice, let text, _)):
            grow(sides[choice], by: text)
        case .success(.finished(_, let choices)):
            finish(choices.enumerated().map { (sides[$0.offset], $0.element.text) })
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
