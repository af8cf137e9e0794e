/// The pages the loopback listener of an interactive sign-in shows when the browser comes
/// back, as MSAL Python's `success_template` and `error_template`.
///
/// Each is HTML (or plain text) in which `$error` and `$error_description` (also written
/// `${error}`) are replaced by the redirect's values, HTML-escaped; `$$` is a dollar sign.
/// Nothing else of the redirect (never the code) is put in a page. The escaping suits text
/// and quoted attribute values, not unquoted attributes or scripts.
public struct LoopbackPages: Sendable {
    /// Shown when the redirect carries a code.
    public var success: String
    /// Shown when the redirect carries an error instead.
    public var error: String

    /// Creates pages; by default short messages telling the user to go back to the app.
    public init(success: String = "<!doctype html><title>Sign-in</title><p>Signed in. You can close this window and go back to the app.</p>",
                error: String = "<!doctype html><title>Sign-in</title><p>The sign-in did not finish ($error). You can close this window; the app says why.</p>") {
        self.success = success
        self.error = error
    }

    /// The page for a redirect with `query`.
    func page(for query: [String: String]) -> String {
        LoopbackPages.fill(query["code"] != nil ? success : error, with: query)
    }

    /// Python's `string.Template.safe_substitute` over `error` and `error_description`:
    /// `$name` and `${name}` of those two are replaced (escaped), `$$` is `$`, anything
    /// else stays as written.
    static func fill(_ template: String, with query: [String: String]) -> String {
        let allowed: Set<String> = ["error", "error_description"]
        var output = ""
        var rest = Substring(template)
        func isNameByte(_ character: Character, first: Bool) -> Bool {
            character == "_" || (character.isASCII && character.isLetter) || (!first && character.isASCII && character.isNumber)
        }
        while let dollar = rest.firstIndex(of: "$") {
            output += rest[..<dollar]
            let after = rest[rest.index(after: dollar)...]
            if after.first == "$" {
                output += "$"
                rest = after.dropFirst()
                continue
            }
            var name: Substring = ""
            var consumed = after.startIndex
            if after.first == "{", let close = after.firstIndex(of: "}") {
                name = after[after.index(after: after.startIndex)..<close]
                consumed = after.index(after: close)
            } else {
                var end = after.startIndex
                while end < after.endIndex, isNameByte(after[end], first: end == after.startIndex) { end = after.index(after: end) }
                name = after[after.startIndex..<end]
                consumed = end
            }
            if allowed.contains(String(name)) {
                output += escapeHTML(query[String(name)] ?? "")
                rest = after[consumed...]
            } else {
                output += "$"
                rest = after
            }
        }
        return output + rest
    }

    /// `text` safe inside HTML text and attribute values.
    package static func escapeHTML(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#x27;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}
