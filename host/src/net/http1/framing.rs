//! Where an HTTP/1.1 message body ends (RFC 9112 §6), for bodies the fast path passes
//! through byte for byte.

/// How a response body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body (HEAD, 1xx, 204, 304, or `Content-Length: 0`).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`, passed through as it is.
    Chunked(Chunked),
    /// Everything until the upstream closes.
    UntilClose,
}

impl Framing {
    /// Of the next `available` bytes, how many belong to the body and whether they end
    /// it. `Chunked` reads `bytes` to find its end.
    pub(crate) fn advance(&mut self, bytes: &[u8]) -> Result<(usize, bool), ChunkError> {
        match self {
            Framing::Empty => Ok((0, true)),
            Framing::Length(left) => {
                let take = (*left).min(bytes.len() as u64);
                *left -= take;
                Ok((take as usize, *left == 0))
            }
            Framing::Chunked(chunked) => chunked.advance(bytes),
            Framing::UntilClose => Ok((bytes.len(), false)),
        }
    }
}

/// Content of a chunked body.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    /// Chunk data.
    Data(&'a [u8]),
    /// A byte of the trailer section (field lines with their CRLFs).
    Trailer(u8),
}

/// A malformed chunked body.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed chunked body")]
pub(crate) struct ChunkError;

/// Largest chunk-size line (size, extensions) and trailer line accepted.
const MAX_LINE: u32 = 4096;

/// Finds the end of a chunked body (RFC 9112 §7.1) without copying or decoding it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Chunked {
    state: State,
    /// Bytes left in the current chunk's data, or the size being read.
    size: u64,
    /// Length of the line being read, to bound extensions and trailers.
    line: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Hex digits of a chunk size; at least one seen when `line > 1`.
    Size,
    /// Whitespace after the size, before `;` or the line's end.
    SizeWs,
    /// Chunk extensions, up to the line's end.
    Extension,
    /// The `\n` after a chunk-size line.
    SizeLf,
    /// Chunk data.
    Data,
    /// The `\r` after chunk data.
    DataCr,
    /// The `\n` after chunk data.
    DataLf,
    /// The start of a trailer line, or of the final empty line.
    TrailerStart,
    /// Inside a trailer field line.
    Trailer,
    /// The `\n` ending a trailer field line.
    TrailerLf,
    /// The `\n` ending the final empty line.
    EndLf,
    /// The body is over.
    Done,
}

impl Chunked {
    /// At the start of a body.
    pub(crate) fn new() -> Self {
        Self {
            state: State::Size,
            size: 0,
            line: 0,
        }
    }

    /// Consumes bytes up to the end of the body: how many belong to it, and whether the
    /// body ended within them.
    pub(crate) fn advance(&mut self, bytes: &[u8]) -> Result<(usize, bool), ChunkError> {
        self.decode(bytes, |_| {})
    }

    /// As [`advance`](Self::advance), handing `out` the body's content as it passes:
    /// chunk data, and the bytes of trailer field lines.
    pub(crate) fn decode(
        &mut self,
        bytes: &[u8],
        mut out: impl FnMut(Piece<'_>),
    ) -> Result<(usize, bool), ChunkError> {
        let mut i = 0;
        while i < bytes.len() && self.state != State::Done {
            if self.state == State::Data {
                let take = self.size.min((bytes.len() - i) as u64);
                out(Piece::Data(&bytes[i..i + take as usize]));
                self.size -= take;
                i += take as usize;
                if self.size == 0 {
                    self.state = State::DataCr;
                }
                continue;
            }
            let byte = bytes[i];
            let trailer = matches!(self.state, State::Trailer | State::TrailerLf)
                || (self.state == State::TrailerStart && byte != b'\r');
            self.step(byte)?;
            if trailer {
                out(Piece::Trailer(byte));
            }
            i += 1;
        }
        Ok((i, self.state == State::Done))
    }

    fn step(&mut self, byte: u8) -> Result<(), ChunkError> {
        self.line += 1;
        if self.line > MAX_LINE {
            return Err(ChunkError);
        }
        self.state = match (self.state, byte) {
            (State::Size, b) if b.is_ascii_hexdigit() => {
                let digit = (b as char).to_digit(16).unwrap_or(0) as u64;
                self.size = self
                    .size
                    .checked_mul(16)
                    .and_then(|s| s.checked_add(digit))
                    .ok_or(ChunkError)?;
                State::Size
            }
            (State::Size, b' ' | b'\t') if self.line > 1 => State::SizeWs,
            (State::SizeWs, b' ' | b'\t') => State::SizeWs,
            (State::Size | State::SizeWs, b';') if self.line > 1 => State::Extension,
            (State::Size | State::SizeWs, b'\r') if self.line > 1 => State::SizeLf,
            (State::Extension, b'\r') => State::SizeLf,
            (State::Extension, b'\n') => return Err(ChunkError),
            (State::Extension, _) => State::Extension,
            (State::SizeLf, b'\n') => {
                self.line = 0;
                if self.size == 0 {
                    State::TrailerStart
                } else {
                    State::Data
                }
            }
            (State::DataCr, b'\r') => State::DataLf,
            (State::DataLf, b'\n') => {
                self.line = 0;
                State::Size
            }
            (State::TrailerStart, b'\r') => State::EndLf,
            (State::TrailerStart | State::Trailer, b'\n') => return Err(ChunkError),
            (State::Trailer, b'\r') => State::TrailerLf,
            (State::TrailerLf, b'\n') => {
                self.line = 0;
                State::TrailerStart
            }
            (State::TrailerStart | State::Trailer, _) => State::Trailer,
            (State::EndLf, b'\n') => State::Done,
            _ => return Err(ChunkError),
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end_of(body: &[u8], piece: usize) -> Result<Option<usize>, ChunkError> {
        let mut chunked = Chunked::new();
        let mut at = 0;
        for part in body.chunks(piece) {
            let (used, done) = chunked.advance(part)?;
            at += used;
            if done {
                return Ok(Some(at));
            }
            assert_eq!(used, part.len(), "all of a piece is used until the end");
        }
        Ok(None)
    }

    #[test]
    fn finds_the_end_of_a_chunked_body_in_any_split() {
        let body =
            b"5\r\nhello\r\nA;ext=1\r\n0123456789\r\n0\r\ngrpc-status: 0\r\nx: y\r\n\r\nNEXT";
        for piece in 1..body.len() {
            assert_eq!(
                end_of(body, piece),
                Ok(Some(body.len() - 4)),
                "piece {piece}"
            );
        }
        assert_eq!(end_of(b"0\r\n\r\n", 64), Ok(Some(5)));
    }

    #[test]
    fn decodes_data_and_trailers_in_any_split() {
        let body = b"5\r\nhello\r\nA;ext=1\r\n0123456789\r\n0\r\ngrpc-status: 0\r\nx: y\r\n\r\n";
        for piece in 1..body.len() {
            let mut chunked = Chunked::new();
            let (mut data, mut trailers) = (Vec::new(), Vec::new());
            for part in body.chunks(piece) {
                chunked
                    .decode(part, |p| match p {
                        Piece::Data(d) => data.extend_from_slice(d),
                        Piece::Trailer(b) => trailers.push(b),
                    })
                    .unwrap();
            }
            assert_eq!(data, b"hello0123456789", "piece {piece}");
            assert_eq!(trailers, b"grpc-status: 0\r\nx: y\r\n", "piece {piece}");
        }
    }

    #[test]
    fn stops_short_of_an_unfinished_body() {
        assert_eq!(end_of(b"5\r\nhel", 64), Ok(None));
        assert_eq!(end_of(b"0\r\ntrailer: 1\r\n", 64), Ok(None));
    }

    #[test]
    fn rejects_malformed_bodies() {
        for bad in [
            &b"\r\n"[..],
            b"zz\r\n",
            b"5\r\nhelloXX",
            b"5\nhello\r\n",
            b"fffffffffffffffffff\r\n",
            b"5 6\r\nhello\r\n",
            b"0\r\nx: y\n\r\n",
            b"0\r\nx: \ry\r\n\r\n",
        ] {
            assert_eq!(
                end_of(bad, 64),
                Err(ChunkError),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let mut long = b"1;".to_vec();
        long.extend(std::iter::repeat_n(b'x', 5000));
        assert_eq!(end_of(&long, 64), Err(ChunkError));
    }

    #[test]
    fn length_framing_takes_only_its_bytes() {
        let mut framing = Framing::Length(5);
        assert_eq!(framing.advance(b"abc"), Ok((3, false)));
        assert_eq!(framing.advance(b"defg"), Ok((2, true)));
    }
}
