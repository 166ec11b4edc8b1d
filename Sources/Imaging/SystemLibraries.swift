// CImageShim's C files include <png.h>, <jpeglib.h> and <tiffio.h> directly, which does not record the libraries
// to link. Importing the system-library modules here makes the Swift compiler autolink them (their module maps say
// `link "png16"`, `link "jpeg"`, `link "tiff"`) into every product that uses Imaging.
import CJPEG
import CPNG
import CTIFF
