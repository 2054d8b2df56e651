import Foundation
import TallyTestSupport
import Testing
@testable import Training
import TransformerCore

@Suite("Training data files")
struct TrainingDataReaderTests {
    func file(_ lines: [String]) throws -> String {
        let path = TemporaryFiles.path("data.jsonl")
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func readsEverySupervisedFormat() throws {
        let path = try file([
            #"{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}], "split": "train"}"#,
            #"{"prompt": "Name a prime.", "completion": "7", "demonstration_id": 3}"#,
            "",
            #"{"prompt": [{"role": "user", "content": "Hi"}], "completion": [{"role": "assistant", "content": "Hey."}], "split": "validation"}"#,
        ])
        let examples = try TrainingDataReader.supervisedExamples(files: [path])
        #expect(examples.count == 3)
        #expect(examples[0].prompt.map(\.role) == ["system", "user"] && examples[0].response == "Hello.")
        #expect(examples[1].prompt == TinyModels.user("Name a prime.") && examples[1].response == "7")
        #expect(examples[2].isHeldOut && examples[2].source.line == 4)
    }

    @Test func readsRankingsPairsAndTranscripts() throws {
        let path = try file([
            #"{"candidates": [{"text": "a", "rank": 2}, {"text": "b", "rank": 1}, {"text": "c", "rank": 2}], "prompt": "Q?", "labeler_group": "held_out", "ranking_id": 1}"#,
            #"{"prompt": "Q?", "chosen": "yes", "rejected": "no", "margin": 1}"#,
            #"{"prompt": [{"role": "user", "content": "Q?"}], "chosen": [{"role": "assistant", "content": "yes"}], "rejected": [{"role": "assistant", "content": "no"}]}"#,
            #"{"chosen": "\n\nHuman: Hi there\n\nAssistant: Hello!\n\nHuman: Joke?\n\nAssistant: Knock knock.", "rejected": "\n\nHuman: Hi there\n\nAssistant: Hello!\n\nHuman: Joke?\n\nAssistant: No."}"#,
            #"{"prompt": "Q?", "chosen": "same", "rejected": "same"}"#,
            #"{"chosen": "\n\nHuman: A\n\nAssistant: x", "rejected": "\n\nHuman: B\n\nAssistant: y"}"#,
            #"{"chosen": "\n\nHuman: A\n\nAssistant: x", "rejected": "\n\nHuman: A\n\nAssistant: y\n\nHuman: more?"}"#,
        ])
        var skipped: [TrainingDataError] = []
        let examples = try TrainingDataReader.rankingExamples(files: [path], skipped: { skipped.append($0) })
        #expect(examples.count == 5 && skipped.map(\.line) == [6, 7])
        #expect(examples[0].ranks == [2, 1, 2] && examples[0].labelerGroup == "held_out")
        #expect(examples[0].preferences.map { [$0.winner, $0.loser] } == [[1, 0], [1, 2]])
        #expect(examples[1].answers == ["yes", "no"] && examples[2].answers == ["yes", "no"])
        #expect(examples[3].prompt.map(\.role) == ["user", "assistant", "user"] && examples[3].prompt[2].content == "Joke?")
        #expect(examples[3].answers == ["Knock knock.", "No."])
        // The same answer twice is a tie: no preference.
        #expect(examples[4].ranks == [1, 1] && examples[4].preferences.isEmpty)
    }

    /// Each bad line is refused with its file, line and field, before anything trains.
    @Test(arguments: [
        (#"{"messages": [{"role": "user", "content": "Hi"}]}"#, "messages", false),
        (#"{"messages": [{"role": "robot", "content": "Hi"}, {"role": "assistant", "content": "x"}]}"#, "messages[0].role", false),
        (#"{"prompt": "Q", "completion": ""}"#, "completion", false),
        (#"{"prompt": "Q", "completion": "A", "split": "dev"}"#, "split", false),
        (#"{"candidates": [{"text": "a", "rank": 2}, {"text": "b", "rank": 2}], "prompt": "Q"}"#, "candidates", true),
        (#"{"candidates": [{"text": "a", "rank": 1}, {"text": "b", "rank": 5}], "prompt": "Q"}"#, "candidates[1].rank", true),
        (#"{"prompt": "Q", "chosen": "yes"}"#, "", true),
        (#"{"chosen": "Human: A Assistant: x", "rejected": "y"}"#, "chosen", true),
        (#"[1, 2]"#, "", true),
    ] as [(String, String, Bool)])
    func refusesABadLineByFileLineAndField(line: String, field: String, rankings: Bool) throws {
        let path = try file([#"{"prompt": "ok", "completion": "fine", "chosen": "a", "rejected": "b"}"#, line])
        do {
            if rankings { _ = try TrainingDataReader.rankingExamples(files: [path], skipped: { Issue.record("skipped \($0)") }) } else { _ = try TrainingDataReader.supervisedExamples(files: [path]) }
            Issue.record("accepted \(line)")
        } catch let error as TrainingDataError {
            #expect(error.file == path && error.line == 2 && error.field == field, "\(error)")
        }
    }

    @Test func refusesAnEmptyOrMissingFile() throws {
        #expect(throws: TrainingDataError.self) { try TrainingDataReader.rankingExamples(files: [try file(["", "  "])], skipped: { _ in }) }
        #expect(throws: TrainingDataError.self) { try TrainingDataReader.supervisedExamples(files: ["/nonexistent/file.jsonl"]) }
    }

    /// Truncation keeps the end of the conversation and each answer's end-of-turn token.
    @Test func truncationKeepsTheEndOfTheConversation() throws {
        let base = try TinyModels.llama(seed: 1)
        let encoder = try ExampleEncoder(model: base, maximumLength: 24)
        let long = String(repeating: "the cat sat on the mat. ", count: 20)
        let ranking = try encoder.encode(RankingExample(prompt: TinyModels.user(long + "name a fruit."), answers: ["a banana", long], ranks: [1, 2], source: TinyModels.source()))
        #expect(ranking.wasTruncated)
        #expect(ranking.answers.allSatisfy { ranking.prompt.count + $0.count <= 24 && $0.last == encoder.endOfTurn })
        // The prompt's end, the assistant's header, is kept.
        let full = try base.promptTokens(TinyModels.user(long + "name a fruit."))
        #expect(Array(full.suffix(ranking.prompt.count)) == ranking.prompt)
        #expect(throws: TrainingOptionError.self) { _ = try ExampleEncoder(model: base, maximumLength: 100_000) }
    }
}
