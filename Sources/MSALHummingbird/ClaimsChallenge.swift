import Foundation
import TokenCache

/// Reads and writes claims challenges: a resource that needs more than a token shows (an
/// authentication context, a revoked session under continuous access evaluation) answers
/// `401` with `WWW-Authenticate: Bearer error="insufficient_claims", claims="<base64>"`.
/// The caller passes the decoded claims to its next token request (or to a new sign-in).
public enum ClaimsChallenge {
    /// The claims (JSON text) of a `WWW-Authenticate` header's Bearer challenge, or `nil`
    /// when it carries none.
    public static func claims(fromWWWAuthenticate header: String) -> String? {
        guard let encoded = parameters(of: header)["claims"], !encoded.isEmpty else { return nil }
        if let bytes = Base64URL.decode(encoded), let text = String(bytes: bytes, encoding: .utf8), text.hasPrefix("{") {
            return text
        }
        return encoded.hasPrefix("{") ? encoded : nil
    }

    /// A `WWW-Authenticate` value that asks for `claims` (JSON text).
    public static func header(claims: String, description: String = "the token does not satisfy the resource's claims") -> String {
        "Bearer error=\"insufficient_claims\", error_description=\"\(quoted(description))\", claims=\"\(Data(claims.utf8).base64EncodedString())\""
    }

    /// The auth-params of the header's challenges (`name=value` or `name="value"`), names in
    /// lower case; the first of each name wins.
    static func parameters(of header: String) -> [String: String] {
        var parameters: [String: String] = [:]
        var index = header.startIndex
        func skip(_ characters: Set<Character>) {
            while index < header.endIndex, characters.contains(header[index]) { index = header.index(after: index) }
        }
        while index < header.endIndex {
            skip([" ", ",", "\t"])
            let nameStart = index
            while index < header.endIndex, !" =,\t".contains(header[index]) { index = header.index(after: index) }
            let name = header[nameStart..<index].lowercased()
            skip([" ", "\t"])
            guard index < header.endIndex, header[index] == "=" else { continue }  // a scheme name
            index = header.index(after: index)
            skip([" ", "\t"])
            var value = ""
            if index < header.endIndex, header[index] == "\"" {
                index = header.index(after: index)
                while index < header.endIndex, header[index] != "\"" {
                    if header[index] == "\\" { index = header.index(after: index); if index == header.endIndex { break } }
                    value.append(header[index])
                    index = header.index(after: index)
                }
                if index < header.endIndex { index = header.index(after: index) }
            } else {
                while index < header.endIndex, header[index] != "," { value.append(header[index]); index = header.index(after: index) }
                value = value.trimmingCharacters(in: .whitespaces)
            }
            if parameters[name] == nil { parameters[name] = value }
        }
        return parameters
    }

    /// `text` safe inside a quoted-string: quotes and backslashes escaped, line breaks gone.
    static func quoted(_ text: String) -> String {
        String(text.flatMap { character -> [Character] in
            switch character {
            case "\"", "\\": return ["\\", character]
            case _ where character.isNewline: return [" "]
            default: return [character]
            }
        })
    }
}
