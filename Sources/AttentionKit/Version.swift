/// The AttentionKit library version.
public let version = "0.1.0"
