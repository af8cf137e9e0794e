import Foundation

/// `text` with its line breaks (and the blanks around them) turned into single spaces: how
/// the package puts a message on one line, such as a provider's multi-line description.
package func oneLine(_ text: String) -> String {
    guard text.contains(where: \.isNewline) else { return text }
    return text.split(whereSeparator: \.isNewline)
        .map { $0.trimmingCharacters(in: .whitespaces) }
        .filter { !$0.isEmpty }
        .joined(separator: " ")
}
