/// The problems a conformance check finds, collected as it goes.
struct ProblemList {
    private(set) var problems: [String] = []

    /// Records `message` when `condition` is false or throws.
    mutating func expect(_ condition: @autoclosure () throws -> Bool, _ message: String) {
        do {
            if try !condition() { problems.append(message) }
        } catch {
            problems.append("\(message): threw \(error)")
        }
    }

    /// Records `message`.
    mutating func record(_ message: String) {
        problems.append(message)
    }
}
