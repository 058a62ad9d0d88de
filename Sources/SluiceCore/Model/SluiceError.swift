/// Domain failures, independent of HTTP. The server maps each case to its status and error
/// code in one place (`APIError.init(_: SluiceError)`).
public enum SluiceError: Error, Sendable, Equatable {
    /// Well-formed input whose field is missing or invalid (422).
    case invalid(field: String, message: String)
    /// No such thing, or one the caller may not see (404).
    case notFound(String)
    /// The request contradicts the current state (409), with the state in `details`.
    case conflict(String, details: JSONValue? = nil)
    /// Input over a configured size limit (413).
    case tooLarge(String)
}
