// The reasons shared by the role errors (SourceError, SinkError, StoreError): one vocabulary, so a retry policy
// reads `isRetryable` the same way whichever role failed.
import { Schema } from "effect"

export const Reason = Schema.Literals(["Unavailable", "Timeout", "Rejected", "Invalid"])

export const isRetryable = (reason: typeof Reason.Type): boolean => reason === "Unavailable" || reason === "Timeout"
