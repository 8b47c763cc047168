import CSndfile
import CSoxr
