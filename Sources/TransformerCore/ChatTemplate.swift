import Foundation

/// How a conversation becomes the text an instruct model was tuned on. Tally knows three
/// families' formats and recognises them in a model's Jinja template rather than running Jinja:
/// - ChatML (`<|im_start|>role\ncontent<|im_end|>\n`): SmolLM2, Qwen;
/// - Llama 3's headers (`<|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>`), with
///   Llama 3.1's and 3.2's system preamble of knowledge and current dates;
/// - Zephyr's (`<|user|>\ncontent</s>\n`): TinyLlama's chat models.
public struct ChatTemplate: Sendable, Equatable {
    public struct Message: Sendable, Equatable {
        public let role: String
        public let content: String
        public init(role: String, content: String) { (self.role, self.content) = (role, content) }
    }

    public enum Format: Sendable, Equatable {
        case chatML
        /// `datePreamble`: Llama 3.1 and 3.2 always open with a system turn that starts
        /// "Cutting Knowledge Date: December 2023\nToday Date: …\n\n".
        case llama3(datePreamble: Bool)
        case zephyr
    }

    public let format: Format
    /// The system message the template adds when a conversation has none (SmolLM2's
    /// "You are a helpful AI assistant named SmolLM, trained by Hugging Face").
    public let defaultSystemPrompt: String?

    /// Llama 3.1's template writes today's date (`strftime_now`) into every prompt. Tally writes
    /// the template's own fallback date instead, so the same conversation always makes the same
    /// training example.
    public static let llama3Date = "26 Jul 2024"

    /// What a model without a chat template is refused with wherever a conversation must become
    /// tokens (sampling from prompts, SFT, reward models).
    public static let missing = CheckpointError(
        "the model has no chat template, so a conversation cannot become its prompt; use an instruct model, or add a chat_template to its tokenizer_config.json",
        kind: .mismatch)

    public static func chatML(defaultSystemPrompt: String?) -> ChatTemplate { ChatTemplate(format: .chatML, defaultSystemPrompt: defaultSystemPrompt) }

    public init(format: Format, defaultSystemPrompt: String? = nil) {
        self.format = format
        self.defaultSystemPrompt = defaultSystemPrompt
    }

    /// Recognises a template Tally knows in Jinja source (the ChatML default system prompt
    /// included, when it is a literal); nil for any other template.
    public init?(jinja: String) {
        if jinja.contains("<|im_start|>"), jinja.contains("<|im_end|>") {
            var system: String?
            if let start = jinja.range(of: "<|im_start|>system\n"), let end = jinja[start.upperBound...].range(of: "<|im_end|>") {
                let text = String(jinja[start.upperBound..<end.lowerBound])
                // Only a literal: a template that writes the system message from a variable has none.
                if !text.contains("{{") && !text.contains("{%") { system = text }
            }
            self.init(format: .chatML, defaultSystemPrompt: system)
        } else if jinja.contains("<|start_header_id|>"), jinja.contains("<|end_header_id|>"), jinja.contains("<|eot_id|>") {
            self.init(format: .llama3(datePreamble: jinja.contains("Cutting Knowledge Date")))
        } else if jinja.contains("<|user|>"), jinja.contains("<|assistant|>"), jinja.contains("eos_token") {
            self.init(format: .zephyr)
        } else {
            return nil
        }
    }

    /// The token that ends a turn: sampling stops there.
    public var endOfTurnMarker: String {
        switch format {
        case .chatML: return "<|im_end|>"
        case .llama3: return "<|eot_id|>"
        case .zephyr: return "</s>"
        }
    }

    /// A piece of the rendered conversation: a marker is one special token, text is encoded.
    enum Part: Equatable {
        case marker(String)
        case text(String)
    }

    /// The conversation as markers and text, as the template renders it, ending with the
    /// opening of the assistant's turn when `addGenerationPrompt` (what sampling continues from).
    func parts(_ messages: [Message], addGenerationPrompt: Bool) -> [Part] {
        var parts: [Part] = []
        switch format {
        case .chatML:
            func turn(_ role: String, _ content: String) { parts += [.marker("<|im_start|>"), .text(role + "\n" + content), .marker("<|im_end|>"), .text("\n")] }
            if let defaultSystemPrompt, messages.first?.role != "system" { turn("system", defaultSystemPrompt) }
            for message in messages { turn(message.role, message.content) }
            if addGenerationPrompt { parts += [.marker("<|im_start|>"), .text("assistant\n")] }
        case .llama3(let datePreamble):
            func header(_ role: String) { parts += [.marker("<|start_header_id|>"), .text(role), .marker("<|end_header_id|>")] }
            // Llama's template trims every message's content.
            func trimmed(_ text: String) -> String { text.trimmingCharacters(in: .whitespacesAndNewlines) }
            parts.append(.marker("<|begin_of_text|>"))
            var rest = messages[...]
            if datePreamble {
                var system = ""
                if rest.first?.role == "system" { system = trimmed(rest.removeFirst().content) }
                header("system")
                parts += [.text("\n\nCutting Knowledge Date: December 2023\nToday Date: \(Self.llama3Date)\n\n" + system), .marker("<|eot_id|>")]
            }
            for message in rest {
                header(message.role)
                parts += [.text("\n\n" + trimmed(message.content)), .marker("<|eot_id|>")]
            }
            if addGenerationPrompt {
                header("assistant")
                parts.append(.text("\n\n"))
            }
        case .zephyr:
            // The template writes only these three roles.
            for message in messages where ["user", "system", "assistant"].contains(message.role) {
                parts += [.text("<|\(message.role)|>\n" + message.content), .marker("</s>"), .text("\n")]
            }
            if addGenerationPrompt, !messages.isEmpty { parts.append(.text("<|assistant|>\n")) }
        }
        return parts
    }

    /// The messages of a conversation this template rendered (`render` with no generation
    /// prompt), the last turn's end marker optional (an answer cut at a length limit); nil when
    /// `text` is not exactly such a rendering: another template's conversation, or text around
    /// it. What it returns renders back to `text`.
    public func parse(_ text: String) -> [Message]? {
        var messages: [Message] = []
        switch format {
        case .chatML:
            let turns = text.components(separatedBy: "<|im_start|>")
            guard turns.first == "", turns.count > 1 else { return nil }
            for turn in turns.dropFirst() {
                guard let newline = turn.firstIndex(of: "\n") else { return nil }
                let body = turn[turn.index(after: newline)...]
                let content = body.range(of: "<|im_end|>").map { body[..<$0.lowerBound] } ?? body
                messages.append(Message(role: String(turn[..<newline]), content: String(content)))
            }
        case .llama3(let datePreamble):
            guard text.hasPrefix("<|begin_of_text|>") else { return nil }
            let turns = text.dropFirst("<|begin_of_text|>".count).components(separatedBy: "<|start_header_id|>")
            guard turns.first == "", turns.count > 1 else { return nil }
            for turn in turns.dropFirst() {
                guard let header = turn.range(of: "<|end_header_id|>\n\n") else { return nil }
                let body = turn[header.upperBound...]
                let content = body.range(of: "<|eot_id|>").map { body[..<$0.lowerBound] } ?? body
                messages.append(Message(role: String(turn[..<header.lowerBound]), content: String(content)))
            }
            if datePreamble {
                let preamble = "Cutting Knowledge Date: December 2023\nToday Date: \(Self.llama3Date)\n\n"
                guard messages.first?.role == "system", messages[0].content.hasPrefix(preamble) else { return nil }
                let system = String(messages[0].content.dropFirst(preamble.count))
                if system.isEmpty { messages.removeFirst() } else { messages[0] = Message(role: "system", content: system) }
            }
        case .zephyr:
            for turn in text.components(separatedBy: "</s>\n") where !turn.isEmpty {
                guard turn.hasPrefix("<|"), let close = turn.range(of: "|>\n") else { return nil }
                let body = turn[close.upperBound...]
                let content = body.hasSuffix("</s>") ? body.dropLast(4) : body
                messages.append(Message(role: String(turn[turn.index(turn.startIndex, offsetBy: 2)..<close.lowerBound]), content: String(content)))
            }
        }
        guard !messages.isEmpty else { return nil }
        let rendered = render(messages, addGenerationPrompt: false)
        let ending = parts([Message(role: "user", content: "")], addGenerationPrompt: false).reversed()
            .prefix { if case .marker = $0 { return false } else { return true } }.count
        // The rendering, or the rendering without its last end marker (and what follows it).
        var unended = parts(messages, addGenerationPrompt: false)
        unended.removeLast(min(unended.count, ending + 1))
        let cut = unended.map { part -> String in
            switch part {
            case .marker(let marker): return marker
            case .text(let text): return text
            }
        }.joined()
        return rendered == text || cut == text || rendered.hasPrefix(text) && text.hasPrefix(cut) ? messages : nil
    }

    /// The prompt text of `messages`. Encode it with special tokens allowed.
    public func render(_ messages: [Message], addGenerationPrompt: Bool = true) -> String {
        parts(messages, addGenerationPrompt: addGenerationPrompt).map { part in
            switch part {
            case .marker(let marker): return marker
            case .text(let text): return text
            }
        }.joined()
    }

    /// The token ids of the conversation: the template's markers as special tokens, and the
    /// text between them encoded as plain text, so a message can never inject a marker of its own.
    public func tokens(_ messages: [Message], tokenizer: BytePairTokenizer, addGenerationPrompt: Bool = true) throws -> [Int32] {
        var ids: [Int32] = []
        var pendingText = ""
        func flush() {
            if !pendingText.isEmpty { ids += tokenizer.encodeText(pendingText[...], isStartOfInput: ids.isEmpty) }
            pendingText = ""
        }
        for part in parts(messages, addGenerationPrompt: addGenerationPrompt) {
            switch part {
            case .text(let text): pendingText += text
            case .marker(let marker):
                guard let id = tokenizer.specialTokens[marker] else {
                    throw CheckpointError("the tokenizer has no special token \(marker), which the chat template needs", kind: .mismatch)
                }
                flush()
                ids.append(id)
            }
        }
        flush()
        return ids
    }

    /// This template in Jinja, as Hugging Face's `tokenizer_config.json` carries it, so
    /// transformers' `apply_chat_template` renders what `render` renders, and `init(jinja:)`
    /// reads it back. Newlines stay literal inside the quoted strings, as in SmolLM2's template.
    public var jinja: String {
        switch format {
        case .chatML:
            var source = "{% for message in messages %}"
            if let defaultSystemPrompt {
                let escaped = defaultSystemPrompt.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
                source += "{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n\(escaped)<|im_end|>\n' }}{% endif %}"
            }
            source += "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}"
            source += "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
            return source
        case .llama3(let datePreamble):
            var source = "{{- '<|begin_of_text|>' }}"
            if datePreamble {
                source += "{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content'] | trim %}{%- set messages = messages[1:] %}"
                source += "{%- else %}{%- set system_message = '' %}{%- endif %}"
                source += "{{- '<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: \(Self.llama3Date)\n\n' + system_message + '<|eot_id|>' }}"
            }
            source += "{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}{%- endfor %}"
            source += "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif %}"
            return source
        case .zephyr:
            let turns = ["user", "system", "assistant"].map { role in
                "{% if message['role'] == '\(role)' %}{{ '<|\(role)|>\n' + message['content'] + eos_token + '\n' }}{% endif %}"
            }.joined()
            return "{% for message in messages %}" + turns + "{% if loop.last and add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}{% endfor %}"
        }
    }
}
