/// How a conversation becomes the text an instruct model was tuned on. Tally knows ChatML
/// (`<|im_start|>role\ncontent<|im_end|>\n` per message), SmolLM2's and Qwen's format, and
/// recognises it in a model's Jinja template rather than running Jinja.
public struct ChatTemplate: Sendable, Equatable {
    public struct Message: Sendable, Equatable {
        public let role: String
        public let content: String
        public init(role: String, content: String) { (self.role, self.content) = (role, content) }
    }

    /// The system message the template adds when a conversation has none (SmolLM2's
    /// "You are a helpful AI assistant named SmolLM, trained by Hugging Face").
    public let defaultSystemPrompt: String?

    public static func chatML(defaultSystemPrompt: String?) -> ChatTemplate { ChatTemplate(defaultSystemPrompt: defaultSystemPrompt) }

    private init(defaultSystemPrompt: String?) { self.defaultSystemPrompt = defaultSystemPrompt }

    /// Recognises a ChatML template in Jinja source, with the default system prompt it writes
    /// when the first message is not the system's; nil for any other template.
    public init?(jinja: String) {
        guard jinja.contains("<|im_start|>"), jinja.contains("<|im_end|>") else { return nil }
        var system: String?
        if let start = jinja.range(of: "<|im_start|>system\n"), let end = jinja[start.upperBound...].range(of: "<|im_end|>") {
            let text = String(jinja[start.upperBound..<end.lowerBound])
            // Only a literal: a template that writes the system message from a variable has none.
            if !text.contains("{{") && !text.contains("{%") { system = text }
        }
        defaultSystemPrompt = system
    }

    /// This template in Jinja, as Hugging Face's `tokenizer_config.json` carries it, so
    /// transformers' `apply_chat_template` renders what `render` renders. Newlines stay literal
    /// inside the quoted strings, as in SmolLM2's own template, so `init(jinja:)` reads it back.
    public var jinja: String {
        var source = "{% for message in messages %}"
        if let defaultSystemPrompt {
            let escaped = defaultSystemPrompt.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
            source += "{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n\(escaped)<|im_end|>\n' }}{% endif %}"
        }
        source += "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}"
        source += "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
        return source
    }

    /// The prompt text of `messages`, ending with the opening of the assistant's turn when
    /// `addGenerationPrompt` (what sampling continues from). Encode it with special tokens allowed.
    public func render(_ messages: [Message], addGenerationPrompt: Bool = true) -> String {
        var text = ""
        if let defaultSystemPrompt, messages.first?.role != "system" {
            text += "<|im_start|>system\n\(defaultSystemPrompt)<|im_end|>\n"
        }
        for message in messages { text += "<|im_start|>\(message.role)\n\(message.content)<|im_end|>\n" }
        if addGenerationPrompt { text += "<|im_start|>assistant\n" }
        return text
    }
}

extension ChatTemplate {
    /// The token ids of the conversation: the template's markers as special tokens, and each
    /// message's content as plain text, so a message can never inject a marker of its own.
    public func tokens(_ messages: [Message], tokenizer: BytePairTokenizer, addGenerationPrompt: Bool = true) throws -> [Int32] {
        guard let start = tokenizer.specialTokens["<|im_start|>"], let end = tokenizer.specialTokens["<|im_end|>"] else {
            throw CheckpointError("the tokenizer has no <|im_start|> and <|im_end|> tokens, which ChatML needs")
        }
        var ids: [Int32] = []
        func turn(_ role: String, _ content: String) {
            ids.append(start)
            ids += tokenizer.encode(role + "\n" + content)
            ids.append(end)
            ids += tokenizer.encode("\n")
        }
        if let defaultSystemPrompt, messages.first?.role != "system" { turn("system", defaultSystemPrompt) }
        for message in messages { turn(message.role, message.content) }
        if addGenerationPrompt {
            ids.append(start)
            ids += tokenizer.encode("assistant\n")
        }
        return ids
    }
}
