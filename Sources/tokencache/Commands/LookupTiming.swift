import TokenCache

/// How `bench` times lookups, on made-up users or a store's own: batches of 64 queries for
/// a given time (at least 5 batches), with a progress line on a terminal.
struct LookupTiming {
    /// The time per lookup of each batch, in seconds, sorted.
    let perLookup: [Double]

    /// The median, in seconds; `nil` when nothing was timed.
    var median: Double? { perLookup.isEmpty ? nil : perLookup[perLookup.count / 2] }
    /// The 99th percentile, in seconds (the nearest rank); `nil` when nothing was timed.
    var p99: Double? { perLookup.isEmpty ? nil : perLookup[min(perLookup.count - 1, Int(Double(perLookup.count) * 0.99))] }

    /// Times `lookup` on queries `query` makes, for `seconds`; `answered` sees each answer
    /// after its batch was timed.
    static func run(_ label: String, seconds: Double, query: () -> AccessTokenQuery, lookup: (AccessTokenQuery) throws -> AccessTokenLookup,
                    answered: (AccessTokenLookup) throws -> Void) throws -> LookupTiming {
        var progress = Progress(label)
        let budget = Duration.seconds(seconds)
        let started = ContinuousClock.now
        var perLookup: [Double] = []
        var answers: [AccessTokenLookup] = []
        answers.reserveCapacity(64)
        while ContinuousClock.now - started < budget || perLookup.count < 5 {
            let batch = (0..<64).map { _ in query() }
            answers.removeAll(keepingCapacity: true)
            let batchStart = ContinuousClock.now
            for query in batch { answers.append(try lookup(query)) }
            perLookup.append((ContinuousClock.now - batchStart).timeInterval / 64)
            for answer in answers { try answered(answer) }
            let elapsed = Int((ContinuousClock.now - started).timeInterval * 1000)
            progress.update(min(elapsed, Int(seconds * 1000)), of: Int(seconds * 1000))
        }
        progress.finish()
        return LookupTiming(perLookup: perLookup.sorted())
    }
}
