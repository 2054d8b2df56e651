import Testing
@testable import TransformerCore

/// Reading a rendered conversation back into messages (what a remote reward request sends):
/// every template round-trips, an answer cut before its end marker is read, and a conversation
/// in another template, or text around one, is not.
@Suite("Chat templates read back")
struct ChatTemplateParsingTests {
    let conversation = [ChatTemplate.Message(role: "system", content: "Be brief."), ChatTemplate.Message(role: "user", content: "Name a fruit.\nOne only."),
                        ChatTemplate.Message(role: "assistant", content: "A banana.")]
    let templates: [ChatTemplate] = [.chatML(defaultSystemPrompt: nil), .chatML(defaultSystemPrompt: "You are helpful."),
                                     ChatTemplate(format: .llama3(datePreamble: true)), ChatTemplate(format: .llama3(datePreamble: false)),
                                     ChatTemplate(format: .zephyr)]

    @Test func everyTemplateRoundTrips() {
        for template in templates {
            let text = template.render(conversation, addGenerationPrompt: false)
            #expect(template.parse(text) == conversation, "\(template.format): \(text)")
            // Cut before the last end marker (an answer that hit the length limit), and with a
            // shorter last answer.
            let cut = String(text[..<text.range(of: "A banana.")!.upperBound])
            #expect(template.parse(cut) == conversation, "\(template.format) cut: \(cut)")
            let partial = String(text[..<text.range(of: "A ban")!.upperBound])
            #expect(template.parse(partial)?.last == ChatTemplate.Message(role: "assistant", content: "A ban"), "\(template.format): \(partial)")
        }
    }

    @Test func otherTemplatesAndStrayTextAreRefused() {
        let chatML = ChatTemplate.chatML(defaultSystemPrompt: nil), llama3 = ChatTemplate(format: .llama3(datePreamble: true))
        #expect(llama3.parse(chatML.render(conversation, addGenerationPrompt: false)) == nil)
        #expect(chatML.parse(llama3.render(conversation, addGenerationPrompt: false)) == nil)
        #expect(chatML.parse("Human: hi\n\nAssistant: hello") == nil)
        #expect(chatML.parse("junk" + chatML.render(conversation, addGenerationPrompt: false)) == nil)
        #expect(chatML.parse(chatML.render(conversation, addGenerationPrompt: false) + "more") == nil)
        #expect(chatML.parse("") == nil)
    }
}
