//! The characters of URI parts (RFC 3986): of paths, in the configuration and in
//! requests; of hosts, in requests (a route's `match.host` is checked by DNS labels).

/// Whether `byte` may be in a host name as requests name hosts: RFC 3986's
/// unreserved characters. Its `reg-name` allows escapes and sub-delimiters too, but no
/// DNS name has them, and servers split a host like `a.com,b.example.com` their own way.
pub const fn host_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// Whether `byte` may be in a path (a segment's characters, `:`, `@`, and `/`).
pub fn path_byte(byte: u8) -> bool {
    host_byte(byte)
        || matches!(
            byte,
            b'%' | b'!'
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
                | b':'
                | b'@'
                | b'/'
        )
}
