//! The characters of URI parts (RFC 3986), for checking paths and hosts alike in the
//! configuration and in requests.

/// Whether `byte` may be in a host name (`reg-name`): unreserved, sub-delimiters and
/// escapes.
pub const fn host_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
        || matches!(
            byte,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'%'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
        )
}

/// Whether `byte` may be in a path (a segment's characters, `:`, `@`, and `/`).
pub fn path_byte(byte: u8) -> bool {
    host_byte(byte) || matches!(byte, b':' | b'@' | b'/')
}
